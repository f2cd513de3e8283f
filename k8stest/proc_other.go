//go:build !linux

package k8stest

import "syscall"

func dieWithParent() *syscall.SysProcAttr { return nil }
