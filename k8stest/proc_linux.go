package k8stest

import "syscall"

// dieWithParent stops a component when the test binary dies (a timeout
// panic or a kill skips the cleanups).
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
