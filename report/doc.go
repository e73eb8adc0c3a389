// Package report writes and reads the result CSV (SPEC §5), keeps the
// end-of-run summary, and renders progress and metrics.
//
// It knows nothing of HTTP or of the batch pipeline: it receives finished
// Results and turns them into files and text. It must not import batch or
// client.
package report
