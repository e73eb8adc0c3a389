package client

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrSecretEchoed is wrapped when the server's code quotes a secret: such
// an answer is not a CENTAGATE verdict, and its code must not reach a result
// file, a summary or a metrics label.
var ErrSecretEchoed = errors.New("response code quotes the credentials")

// secretsOf returns the texts that scrub hides for c: the cenToken, the auth
// token and the secret code, lower-cased (see fold), empty ones left out.
func secretsOf(c Credentials) []string {
	var out []string
	for _, s := range []string{c.CenToken(), c.AuthToken, c.SecretCode} {
		if s != "" {
			out = append(out, fold(s))
		}
	}
	return out
}

// scrubAnswer keeps the secrets out of what DecodeResponse made of an
// answer to a request with status: a server or proxy that quotes the request
// back must not carry the cenToken into a result file, a summary, a metrics
// label or a log. A code that quotes a secret makes the answer a transport
// failure; the message and a transport error's snippet are scrubbed.
func (c *Client) scrubAnswer(status int, out Response, err error) (Response, error) {
	var te *TransportError
	if errors.As(err, &te) {
		te.Snippet = scrub(te.Snippet, c.secrets)
		return out, err
	}
	if err != nil {
		return out, err
	}
	if scrub(out.Code, c.secrets) != out.Code {
		return Response{}, &TransportError{Op: "decode response", StatusCode: status, MaybeSent: true, Err: ErrSecretEchoed}
	}
	out.Message = scrub(out.Message, c.secrets)
	return out, nil
}

// minSecretRun is the shortest piece of a secret that scrub hides: long
// enough not to hide ordinary words, short enough that a cut-off quote of a
// secret is hidden too.
const minSecretRun = 8

// scrub replaces every run of at least minSecretRun bytes (or a whole short
// secret) of text that is, ignoring case, a piece of one of the secrets
// (given folded, see fold) with [REDACTED]. A replaced run starts and ends on
// character boundaries, so the result stays valid UTF-8.
func scrub(text string, secrets []string) string {
	if len(secrets) == 0 || text == "" {
		return text
	}
	low := fold(text) // same length as text, byte for byte
	var b strings.Builder
	last := 0
	for i := 0; i < len(low); {
		if !utf8.RuneStart(low[i]) {
			i++
			continue
		}
		best := 0
		for _, sec := range secrets {
			if len(sec) < 6 {
				continue // too short to tell from ordinary text
			}
			run := min(minSecretRun, len(sec))
			if i+run > len(low) || !strings.Contains(sec, low[i:i+run]) {
				continue
			}
			l := run
			for i+l < len(low) && strings.Contains(sec, low[i:i+l+1]) {
				l++
			}
			best = max(best, l)
		}
		if best == 0 {
			i++
			continue
		}
		for i+best < len(low) && !utf8.RuneStart(low[i+best]) {
			best++ // do not leave half a character behind
		}
		b.WriteString(text[last:i])
		b.WriteString("[REDACTED]")
		i += best
		last = i
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// fold lower-cases s without changing its length: every letter whose lower
// case has the same UTF-8 width (all of ASCII, and nearly every other
// alphabet) is lowered, the rare others are kept. So a byte offset in
// fold(s) is the same offset in s, and a secret echoed upper-cased (the hex
// cenToken as "E95156D0…") is still found.
func fold(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				if b == nil {
					b = []byte(s)
				}
				b[i] = c + 'a' - 'A'
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if l := unicode.ToLower(r); l != r && utf8.RuneLen(l) == n {
			if b == nil {
				b = []byte(s)
			}
			utf8.EncodeRune(b[i:], l)
		}
		i += n
	}
	if b == nil {
		return s
	}
	return string(b)
}
