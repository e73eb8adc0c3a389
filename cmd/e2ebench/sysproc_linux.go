package main

import "syscall"

// sysProcAttr asks the kernel to kill a child if e2ebench dies without
// cleaning up (kill -9): a simulator left listening would outlive the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
