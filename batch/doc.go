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
// writer stage), decide.go (the one pure function that decides what happens
// to a row before it is sent), outcome.go (what travels from the workers to
// the writer: a result row and its facts as fields, and the one place their
// notes are written and read back), scheduler.go (per-user ordering),
// worker.go (a row's attempts), policy.go (the one place that decides what
// an answer means), breaker.go (the circuit breaker), pacer.go (the rate
// limiter and how 429s steer it), dedup.go, shard.go, resume.go (an earlier result, checked
// against the input), input.go (the input reader).
//
// The input is read through internal/csvfile, the one CSV layer of
// tokenreg (the result reader and the ledger's import use it too): it
// decides what the bytes are (BOM, UTF-16, a workbook, not UTF-8), the
// separator, and splits records itself, so that a classic-Mac file, a
// broken quote or a 100 MB field can neither drop a line silently nor grow
// memory. input.go maps the header by its aliases (csvfile.FoldName) and
// picks each row's fields by column index from the raw record.
//
// gocsv (SPEC §2's CSV mapper) is used where per-row cost does not matter
// and a struct's tags say the layout best: the ledger's export is written
// through it, and the ledger's import maps an export or a hand-made result
// file to a struct through it (ledger/csv.go), a batch of records at a time
// read through csvfile. It is not on this path: its Unmarshaller reads only
// through a concrete *encoding/csv.Reader, which cannot bound a record
// before allocating it, read lone-CR line ends or say where a broken
// multi-line quote started; its other streaming entry points hide a
// goroutine and lose the context; and its per-row reflection was the
// reader's largest cost when it mapped the rows (1,000,000 rows must
// validate within SPEC §7's 5 s). Mapping a header to a struct is all it
// would do here, and the aliases do that. The result file keeps its
// hand-written Writer and Reader (report) for the same reasons: the Writer
// is on every run's hot path, --resume reads a whole earlier result with
// the Reader, and the Reader names the exact line of a bad cell and goes
// on; the ledger's import reads result files through that Reader too.
//
// batch does not parse flags, read the environment or open files other than
// through the values it is given.
package batch
