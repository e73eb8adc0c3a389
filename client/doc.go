// Package client speaks CENTAGATE's registerActiveToken API: the request
// shape, the cenToken, the response decoding and the classification of the
// server's codes.
//
// It knows one endpoint and nothing about batches: it does not retry, pace,
// read CSV files or log. A failed answer is returned as a Response with a
// non-zero code (a server verdict) or as a *TransportError (no verdict), and
// the caller decides what to do with it.
package client
