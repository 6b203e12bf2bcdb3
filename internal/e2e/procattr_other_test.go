//go:build !linux

package e2e

import "os/exec"

// dieWithTest has no portable equivalent outside Linux; the tests' cleanup stops the server.
func dieWithTest(cmd *exec.Cmd) {}
