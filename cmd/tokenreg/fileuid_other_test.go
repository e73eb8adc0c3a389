//go:build !unix

package main

import "os"

// fileUID: no numeric owner off Unix; the ownership checks are Unix-only.
func fileUID(os.FileInfo) int { return os.Geteuid() }
