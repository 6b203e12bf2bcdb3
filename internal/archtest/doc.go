// Package archtest holds the tests of the project's shape: which package may import which
// (docs/ARCHITECTURE.md). It has no code of its own.
package archtest
