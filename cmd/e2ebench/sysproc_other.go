//go:build !linux && !windows

package main

import "syscall"

// sysProcAttr is nil where the kernel cannot tie a child's life to ours;
// killAll still ends every child on a normal exit or an interrupt.
func sysProcAttr() *syscall.SysProcAttr { return nil }
