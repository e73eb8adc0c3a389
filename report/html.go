package report

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The page's template and style sheet. The style is inline and named in
// the Content-Security-Policy by its hash, so the page loads nothing, runs
// nothing, and needs nothing but itself.
var (
	//go:embed page.html.tmpl
	pageTemplate string
	//go:embed page.css
	pageCSS string
)

// statusOrder is the order statuses are shown in.
var statusOrder = []Status{StatusOK, StatusFailed, StatusError, StatusInvalid, StatusSkipped, StatusValid}

// WriteHTML writes the page: one self-contained HTML document with no
// script, no request leaving it (a strict Content-Security-Policy says so
// to the browser), and charts drawn as inline SVG. Every text that comes
// from a result file or a server is escaped by html/template.
func (p *Page) WriteHTML(w io.Writer) error {
	t, err := template.New("page").Funcs(template.FuncMap{"markdown": inlineMarkdown}).Parse(pageTemplate)
	if err != nil {
		return err
	}
	return t.Execute(w, p.view())
}

// CSP is the page's Content-Security-Policy: nothing may load, nothing may
// run; the one inline style sheet is allowed by its hash.
func CSP() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'none'; base-uri 'none'; form-action 'none'"
}

// pageView is what the template shows. Numbers the browser check compares
// with a summary travel as Raw (data-value), unformatted.
type pageView struct {
	Title, Made, Maker string
	CSP                string
	CSS                template.CSS
	Figures            []figure
	Info               []figure
	Status             svgChart
	Codes              []codeRow
	CodeChart          svgChart
	Throughput         svgChart
	ThroughputNote     string
	Latency            svgChart
	LatencyStats       []figure
	Attempts           svgChart
	Groups             []groupView
	Files              []fileView
	ManyFiles          bool
	Unreadable         int
	RowErrors          []string
	Notes              []string
}

// figure is one headline number: Name is its data-figure, Raw its
// data-value, Value the text shown.
type figure struct {
	Name, Label, Value, Raw, Class string
}

type codeRow struct {
	Code, Message, Share, Class string
	Count                       int
	CountText                   string
}

type groupView struct {
	Key, Title          string
	Meaning, Action     template.HTML
	Count, More         int
	CountText, MoreText string
	Rows                []rowView
	Class               string
}

type rowView struct {
	File                                              string
	Line, Attempts                                    int
	Username, TokenSn, TokenType, Code, Message, When string
}

type fileView struct {
	Path, Rows, Superseded, OtherShard, Unreadable, Sent, Elapsed, Rate, SHA string
	Summary                                                                  bool
}

func (p *Page) view() pageView {
	v := pageView{
		Title: p.opts.Title,
		Made:  p.made.UTC().Format("2006-01-02 15:04:05Z"),
		Maker: p.opts.Version,
		CSP:   CSP(),
		CSS:   template.CSS(pageCSS),
	}
	v.ManyFiles = len(p.files) > 1
	v.Figures = p.headline()
	v.Info = p.info()
	v.Status = p.statusChart()
	v.Codes, v.CodeChart = p.codeTable()
	v.Throughput, v.ThroughputNote = p.throughputChart()
	v.Latency, v.LatencyStats = p.latencyChart()
	v.Attempts = p.attemptsChart()
	v.Groups = p.groupViews()
	for _, ft := range p.files {
		fv := fileView{
			Path: ft.path, Rows: group3(ft.rows), Superseded: group3(ft.superseded),
			OtherShard: group3(ft.otherShard), Unreadable: group3(ft.unreadable), Sent: group3(ft.sent),
			Elapsed: formatElapsed(ft.elapsed()), Rate: fmt.Sprintf("%.1f/s", ft.rate()), Summary: ft.summary != nil,
		}
		if ft.summary != nil {
			fv.SHA = ft.summary.InputSHA256
		}
		v.Files = append(v.Files, fv)
		v.Unreadable += ft.unreadable
		if s := ft.summary; s != nil && s.Rows != ft.rows+ft.superseded+ft.otherShard+ft.unreadable {
			v.Notes = append(v.Notes, fmt.Sprintf("The summary of %s counts %s rows, the file %s: the summary covers the last command on the file only (a resumed run). The counts here are the file's; the time and rate are the last command's.",
				ft.path, group3(s.Rows), group3(ft.rows+ft.superseded+ft.otherShard+ft.unreadable)))
		}
	}
	v.RowErrors = p.rowErrors
	return v
}

// headline is the row of big numbers. With one file and its summary the
// time and rate are the summary's; otherwise elapsed runs from the first
// start to the last end over all files, and the rate is the rows sent per
// second of it.
func (p *Page) headline() []figure {
	f := []figure{{Name: "rows", Label: "rows", Value: group3(p.rows), Raw: strconv.Itoa(p.rows)}}
	for _, st := range statusOrder {
		n := p.byStatus[st]
		if st == StatusValid && n == 0 {
			continue
		}
		f = append(f, figure{Name: string(st), Label: string(st), Value: group3(n), Raw: strconv.Itoa(n), Class: "st-" + string(st)})
	}
	f = append(f, figure{Name: "sent", Label: "rows sent", Value: group3(p.sent), Raw: strconv.Itoa(p.sent)})
	var elapsed, rate float64
	if len(p.files) == 1 && p.files[0].summary != nil && p.files[0].summary.FinishedAt != "" {
		elapsed, rate = p.files[0].summary.ElapsedSeconds, p.files[0].summary.RatePerSecond
	} else {
		start, end := p.span()
		sent := 0
		for _, ft := range p.files {
			sent += ft.sent
		}
		if !start.IsZero() && end.After(start) {
			elapsed = round3(end.Sub(start).Seconds())
			rate = round3(float64(sent) / end.Sub(start).Seconds())
		}
	}
	f = append(f,
		figure{Name: "elapsed_seconds", Label: "elapsed", Value: formatElapsed(time.Duration(elapsed * float64(time.Second))), Raw: strconv.FormatFloat(elapsed, 'f', -1, 64)},
		figure{Name: "rate_per_second", Label: "rate (rows sent/s)", Value: fmt.Sprintf("%.1f/s", rate), Raw: strconv.FormatFloat(rate, 'f', -1, 64)},
	)
	remaining, limited := 0, false
	for _, ft := range p.files {
		if s := ft.summary; s != nil {
			remaining += max(s.Remaining, 0)
			limited = limited || s.Limited
		}
	}
	if remaining > 0 || limited {
		f = append(f, figure{Name: "remaining", Label: "not sent yet (--resume)", Value: group3(remaining), Raw: strconv.Itoa(remaining), Class: "st-remaining"})
	}
	return f
}

// info is the table under the headline: input, its SHA-256, versions, the
// period, how the runs ended.
func (p *Page) info() []figure {
	var inputs, shas, versions, ends []string
	start, end := p.span()
	for _, ft := range p.files {
		sum := ft.summary
		if sum == nil {
			continue
		}
		inputs = appendNew(inputs, sum.Input)
		shas = appendNew(shas, sum.InputSHA256)
		versions = appendNew(versions, sum.Version)
		var how string
		switch {
		case sum.Aborted != "":
			how = "aborted by the circuit breaker: " + sum.Aborted
		case sum.Interrupted:
			how = "interrupted"
		case sum.Limited:
			how = "stopped at --limit (a canary)"
		default:
			how = "finished"
		}
		ends = append(ends, fmt.Sprintf("%s: %s, exit %d", ft.path, how, sum.ExitCode))
	}
	unknown := "unknown (no summary JSON)"
	join := func(xs []string) string {
		if len(xs) == 0 {
			return unknown
		}
		return strings.Join(xs, ", ")
	}
	info := []figure{
		{Name: "input", Label: "input", Value: join(inputs), Raw: join(inputs)},
		{Name: "input_sha256", Label: "input SHA-256", Value: join(shas), Raw: join(shas), Class: "mono"},
		{Name: "version", Label: "tokenreg version", Value: join(versions), Raw: join(versions)},
	}
	if !start.IsZero() {
		period := start.UTC().Format("2006-01-02 15:04:05.000Z") + " to " + end.UTC().Format("2006-01-02 15:04:05.000Z")
		info = append(info, figure{Name: "period", Label: "period", Value: period, Raw: period})
	}
	if ps := p.params(); ps != "" {
		info = append(info, figure{Name: "parameters", Label: "run parameters", Value: ps, Raw: ps, Class: "mono"})
	}
	if len(ends) > 0 {
		info = append(info, figure{Name: "ended", Label: "how it ended", Value: strings.Join(ends, "; "), Raw: strings.Join(ends, "; ")})
	}
	return info
}

// span is the period of all the files: the earliest start, the latest end.
func (p *Page) span() (start, end time.Time) {
	for _, ft := range p.files {
		s, e := ft.span()
		if !s.IsZero() && (start.IsZero() || s.Before(start)) {
			start = s
		}
		if e.After(end) {
			end = e
		}
	}
	return start, end
}

func appendNew(xs []string, x string) []string {
	if x == "" || slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

// params says with which settings each run was made: "command run ·
// --rate 10 · …", from the summaries' parameters.
func (p *Page) params() string {
	var parts []string
	for _, ft := range p.files {
		if ft.summary == nil || len(ft.summary.Parameters) == 0 {
			continue
		}
		ps := ft.summary.Parameters
		names := slices.Sorted(maps.Keys(ps))
		var b strings.Builder
		if len(p.files) > 1 {
			b.WriteString(ft.path + ": ")
		}
		if c, ok := ps["command"]; ok {
			b.WriteString(c)
		}
		for _, n := range names {
			if n != "command" {
				fmt.Fprintf(&b, " --%s %s", n, ps[n])
			}
		}
		parts = append(parts, strings.TrimSpace(b.String()))
	}
	return strings.Join(parts, "; ")
}

func (p *Page) statusChart() svgChart {
	var items []barItem
	for _, st := range statusOrder {
		n := p.byStatus[st]
		if st == StatusValid && n == 0 {
			continue
		}
		items = append(items, barItem{Label: string(st), Value: n, Class: "st-" + string(st), Note: share(n, p.rows)})
	}
	return hbars("Rows by status", items)
}

func (p *Page) codeTable() ([]codeRow, svgChart) {
	var rows []codeRow
	var items []barItem
	for _, c := range p.sortedCodes() {
		class := "st-" + string(c.status)
		if c.code == "0" {
			class = "st-ok"
		}
		rows = append(rows, codeRow{Code: clip(c.code), Message: c.message, Count: c.count, CountText: group3(c.count), Share: share(c.count, p.rows), Class: class})
		if len(items) < 20 {
			items = append(items, barItem{Label: clip(c.code), Value: c.count, Class: class, Note: share(c.count, p.rows), Title: c.message})
		}
	}
	return rows, hbars("Rows by server code", items)
}

func (p *Page) throughputChart() (svgChart, string) {
	h := &p.throughput
	lo, hi := h.used()
	if hi == lo {
		return svgChart{}, ""
	}
	sec := h.width.Seconds()
	var cols []column
	for i := lo; i < hi; i++ {
		t := h.start.Add(time.Duration(i) * h.width)
		cols = append(cols, column{Value: float64(h.n[i]) / sec, Title: fmt.Sprintf("%s: %s rows (%.1f/s)", t.UTC().Format("15:04:05.000"), group3(h.n[i]), float64(h.n[i])/sec)})
	}
	first, last := h.start.Add(time.Duration(lo)*h.width), h.start.Add(time.Duration(hi)*h.width)
	layout := "15:04:05"
	if h.width < time.Second {
		layout = "15:04:05.0"
	}
	if last.Sub(first) > 20*time.Hour {
		layout = "01-02 15:04"
	}
	label := func(i int) string { return h.start.Add(time.Duration(lo+i) * h.width).UTC().Format(layout) }
	note := fmt.Sprintf("Rows sent, by the time they finished (UTC); each bar is %s.", formatElapsed(h.width))
	return columnChart("Rows sent per second over time", cols, label, func(v float64) string { return fmt.Sprintf("%.0f/s", v) }), note
}

func (p *Page) latencyChart() (svgChart, []figure) {
	last := -1
	for i, n := range p.latency {
		if n > 0 {
			last = i
		}
	}
	if last < 0 {
		return svgChart{}, nil
	}
	names := latencyNames()
	var cols []column
	for i := 0; i <= max(last, 3); i++ {
		cols = append(cols, column{Value: float64(p.latency[i]), Title: fmt.Sprintf("%s: %s rows", names[i], group3(p.latency[i]))})
	}
	chart := columnChart("Time per row", cols, func(i int) string { return names[i] }, func(v float64) string { return group3(int(v)) })
	stats := []figure{
		{Name: "latency_p50", Label: "median", Value: p.percentile(0.50)},
		{Name: "latency_p90", Label: "90%", Value: p.percentile(0.90)},
		{Name: "latency_p99", Label: "99%", Value: p.percentile(0.99)},
		{Name: "latency_mean", Label: "mean", Value: formatElapsed(p.latSum / time.Duration(p.sent))},
		{Name: "latency_max", Label: "max", Value: formatElapsed(p.latMax)},
	}
	return chart, stats
}

// percentile says in which bucket the q-quantile of the rows' times lies.
func (p *Page) percentile(q float64) string {
	target := int(math.Ceil(q * float64(p.sent)))
	seen := 0
	for i, n := range p.latency {
		seen += n
		if seen >= max(target, 1) {
			if i == len(latencyBounds) {
				return "≥ " + formatElapsed(latencyBounds[i-1])
			}
			return "< " + formatElapsed(latencyBounds[i])
		}
	}
	return ""
}

func latencyNames() []string {
	names := make([]string, len(latencyBounds)+1)
	for i, b := range latencyBounds {
		names[i] = "<" + shortDuration(b)
	}
	names[len(latencyBounds)] = "≥" + shortDuration(latencyBounds[len(latencyBounds)-1])
	return names
}

func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return strconv.Itoa(int(d/time.Minute)) + "min"
	case d >= time.Second:
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return strconv.Itoa(int(d/time.Millisecond)) + "ms"
}

func (p *Page) attemptsChart() svgChart {
	if p.sent == 0 {
		return svgChart{}
	}
	var cols []column
	for n := 1; n <= maxAttempts; n++ {
		cols = append(cols, column{Value: float64(p.attempts[n]), Title: fmt.Sprintf("%s rows took %d attempt(s)", group3(p.attempts[n]), n)})
	}
	label := func(i int) string {
		if i+1 == maxAttempts {
			return strconv.Itoa(maxAttempts) + "+"
		}
		return strconv.Itoa(i + 1)
	}
	return columnChart("Attempts per row", cols, label, func(v float64) string { return group3(int(v)) })
}

func (p *Page) groupViews() []groupView {
	var out []groupView
	for _, g := range p.sortedGroups() {
		gv := groupView{
			Key: clip(g.key), Meaning: inlineMarkdown(g.entry.Meaning), Action: inlineMarkdown(g.entry.Action),
			Count: g.count, CountText: group3(g.count), More: g.count - len(g.rows),
			Class: "st-" + string(g.status),
		}
		gv.MoreText = group3(gv.More)
		switch {
		case g.status == StatusFailed && g.key == OtherCode:
			gv.Title = "codes past the first " + strconv.Itoa(MaxCodes)
		case g.entry.Message != "":
			gv.Title = "code " + gv.Key + ": " + g.entry.Message
		case g.status == StatusFailed:
			gv.Title = "code " + gv.Key + " (not documented by the vendor)"
		default:
			gv.Title = "status " + gv.Key
		}
		for _, gr := range g.rows {
			rv := rowView{
				File: p.files[gr.file].path, Line: gr.r.Line, Username: gr.r.Username, TokenSn: gr.r.TokenSn,
				TokenType: gr.r.TokenType, Code: gr.r.Code, Message: gr.r.Message, Attempts: gr.r.Attempts,
			}
			if !gr.r.FinishedAt.IsZero() {
				rv.When = gr.r.FinishedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			gv.Rows = append(gv.Rows, rv)
		}
		out = append(out, gv)
	}
	return out
}

// svgChart is a chart drawn by the program: rectangles, lines and texts
// with coordinates in SVG user units. Colours come from CSS classes.
type svgChart struct {
	Label string
	W, H  int
	Rects []svgRect
	Lines []svgLine
	Texts []svgText
}

type svgRect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type svgLine struct {
	X1, Y1, X2, Y2 float64
	Class          string
}

type svgText struct {
	X, Y          float64
	Anchor, Class string
	Text          string
}

type barItem struct {
	Label       string
	Value       int
	Class, Note string
	Title       string
}

// hbars draws a horizontal bar per item, labelled on the left, with its
// count and share on the right.
func hbars(label string, items []barItem) svgChart {
	const (
		w, labelW, valueW, rowH, barH = 1000.0, 90.0, 160.0, 26.0, 18.0
	)
	c := svgChart{Label: label, W: int(w), H: int(rowH*float64(len(items)) + 8)}
	top := 0
	for _, it := range items {
		top = max(top, it.Value)
	}
	plot := w - labelW - valueW
	for i, it := range items {
		y := 4 + rowH*float64(i)
		bw := 0.0
		if top > 0 {
			bw = plot * float64(it.Value) / float64(top)
		}
		if it.Value > 0 {
			bw = math.Max(bw, 1.5)
		}
		title := fmt.Sprintf("%s: %s rows", it.Label, group3(it.Value))
		if it.Title != "" {
			title += " (" + it.Title + ")"
		}
		c.Rects = append(c.Rects, svgRect{X: labelW, Y: y, W: r1(bw), H: barH, Class: it.Class, Title: title})
		c.Texts = append(c.Texts,
			svgText{X: labelW - 8, Y: y + barH - 4, Anchor: "end", Text: it.Label},
			svgText{X: r1(labelW + bw + 6), Y: y + barH - 4, Anchor: "start", Class: "val", Text: group3(it.Value) + " · " + it.Note},
		)
	}
	return c
}

type column struct {
	Value float64
	Title string
}

// columnChart draws a column per value with a y axis from 0 to the largest
// value, labelling about eight of the columns with label(i).
func columnChart(label string, cols []column, xLabel func(int) string, yLabel func(float64) string) svgChart {
	const (
		w, h, left, right, top, bottom = 1000.0, 240.0, 64.0, 12.0, 12.0, 40.0
	)
	c := svgChart{Label: label, W: int(w), H: int(h)}
	peak := 0.0
	for _, col := range cols {
		peak = math.Max(peak, col.Value)
	}
	plotW, plotH := w-left-right, h-top-bottom
	base := top + plotH
	for _, f := range []float64{0, 0.5, 1} {
		y := r1(base - plotH*f)
		c.Lines = append(c.Lines, svgLine{X1: left, Y1: y, X2: w - right, Y2: y, Class: "grid"})
		c.Texts = append(c.Texts, svgText{X: left - 6, Y: y + 4, Anchor: "end", Class: "axis", Text: yLabel(peak * f)})
	}
	step := plotW / float64(len(cols))
	gap := math.Min(step*0.15, 4)
	every := max(1, (len(cols)+7)/8)
	for i, col := range cols {
		x := left + step*float64(i)
		bh := 0.0
		if peak > 0 {
			bh = plotH * col.Value / peak
		}
		if col.Value > 0 {
			bh = math.Max(bh, 1)
		}
		c.Rects = append(c.Rects, svgRect{X: r1(x + gap/2), Y: r1(base - bh), W: r1(step - gap), H: r1(bh), Class: "col", Title: col.Title})
		if i%every == 0 {
			c.Texts = append(c.Texts, svgText{X: r1(x + step/2), Y: base + 16, Anchor: "middle", Class: "axis", Text: xLabel(i)})
		}
	}
	return c
}

func r1(f float64) float64 { return math.Round(f*10) / 10 }

// inlineMarkdown renders the runbook's inline markup (`code`, **strong**,
// *emphasis*) as HTML; everything else is escaped.
func inlineMarkdown(s string) template.HTML {
	var b strings.Builder
	wrap := func(tag, text string) {
		b.WriteString("<" + tag + ">" + html.EscapeString(text) + "</" + tag + ">")
	}
	for s != "" {
		switch {
		case s[0] == '`':
			if j := strings.IndexByte(s[1:], '`'); j >= 0 {
				wrap("code", s[1:1+j])
				s = s[j+2:]
				continue
			}
		case strings.HasPrefix(s, "**"):
			if j := strings.Index(s[2:], "**"); j >= 0 {
				wrap("strong", s[2:2+j])
				s = s[j+4:]
				continue
			}
		case s[0] == '*':
			if j := strings.IndexByte(s[1:], '*'); j >= 0 {
				wrap("em", s[1:1+j])
				s = s[j+2:]
				continue
			}
		}
		k := strings.IndexAny(s[1:], "`*")
		if k < 0 {
			k = len(s) - 1
		}
		b.WriteString(html.EscapeString(s[:k+1]))
		s = s[k+1:]
	}
	return template.HTML(b.String())
}

// group3 writes n with commas between groups of three digits.
func group3(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(",")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func share(n, total int) string {
	if total == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
}

func formatElapsed(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
