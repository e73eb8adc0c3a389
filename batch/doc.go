// Package batch runs a registration batch: it reads the input CSV as a
// stream, validates and de-duplicates the rows, paces the requests through
// one rate limiter and a pool of workers, retries what may be retried, and
// hands every row's outcome to a single writer goroutine that owns the
// result file.
//
// The pipeline is
//
//	reader -> scheduler -> workers -> writer
//
// The reader validates rows in file order (invalid and duplicate rows go
// straight to the writer); the scheduler (no goroutine of its own) keeps
// rows that share a username out of flight together and in file order
// (SPEC §4); each worker takes one of the request slots (Config.Workers)
// and the shared limiter's token for every attempt, and holds no slot while
// it sleeps before a retry; the writer records, counts and
// trips the circuit breaker. A row's failure is a report.Result, never an
// error: Run returns an error only for what stops the whole run.
//
// Files by concept: run.go (the pipeline: Run, the reader stage, the
// writer stage), scheduler.go (per-user ordering), worker.go (a row's
// attempts), policy.go (the one place that decides what an answer means),
// breaker.go (the circuit breaker), pacer.go (the rate limiter and how 429s steer it), dedup.go,
// shard.go, resume.go, input.go (the input reader).
//
// batch does not parse flags, read the environment or open files other than
// through the values it is given.
package batch
