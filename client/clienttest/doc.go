// Package clienttest is an in-process fake CENTAGATE server for tests and
// benchmarks, in the spirit of net/http/httptest, and the engine of the
// centagate-sim command (SPEC §6).
//
// NewServer serves the registerActiveToken endpoint on a loopback port with
// in-memory State (users, OTP tokens, phone numbers in use, scripted
// failures). It checks the cenToken, answers the documented codes, and can
// add latency, a request-rate limit (HTTP 429) and faults: 500 and 503
// pages, connection resets, hangs, malformed JSON, HTML login pages, and a
// response lost after the registration was applied. Stats reports what the
// server saw — request times for pacing checks, codes, faults, and tokens
// registered twice — so that tests assert on the server's record rather
// than on their own wall clock.
//
// It is a test double: it must never listen beyond loopback, persist
// anything, or be mistaken for a reference implementation of the vendor's
// server beyond the behaviour documented in SPEC §1.
package clienttest
