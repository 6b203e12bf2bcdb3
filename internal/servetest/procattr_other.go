//go:build !linux

package servetest

import "os/exec"

// dieWithTest has no portable equivalent outside Linux; the tests' cleanup stops the server.
func dieWithTest(cmd *exec.Cmd) {}
