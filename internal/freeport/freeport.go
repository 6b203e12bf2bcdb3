// Package freeport finds a TCP port on 127.0.0.1 that nothing listens on, for the throwaway
// servers the tests and the demo start (PostgreSQL, slapd, mailpit, unlockd itself). Another
// process may take the port before the server listens on it: a server that reports the address in
// use is started again on another.
package freeport

import "net"

// Port returns a port on 127.0.0.1 that nothing listens on now.
func Port() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns 127.0.0.1:port for a port nothing listens on now.
func Addr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
