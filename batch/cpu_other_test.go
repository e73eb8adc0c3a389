//go:build !unix

package batch

import "time"

// processCPU is not measured here: the benchmarks report 0 CPU a row.
func processCPU() time.Duration { return 0 }
