// Package bench measures unlockd from outside, as `make bench` runs it: CPU per sign-in of the
// server process and of PostgreSQL, read from /proc, against CPU per raw argon2id hash, read from
// getrusage; and CPU per refusal that checks no password, one at a time and in a flood. It holds
// only tests; nothing imports it.
package bench
