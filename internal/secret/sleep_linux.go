package secret

import (
	"syscall"
	"time"
)

// sleepPrecisely sleeps d in the kernel, which wakes within tens of microseconds. It holds its
// thread meanwhile, so it is kept for the last stretch of a pad (fineSleep).
func sleepPrecisely(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
