package secret

import (
	"context"
	"runtime"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func BenchmarkHashPasswordDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple", DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	enc, err := HashPassword("correct horse battery staple", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, _, err := VerifyPassword("correct horse battery staple", enc, DefaultParams)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkVerifyBcryptCost10(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte("rasmuslerdorf"), 10)
	if err != nil {
		b.Fatal(err)
	}
	enc := string(h)
	for b.Loop() {
		if ok, _, err := VerifyPassword("rasmuslerdorf", enc, DefaultParams); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkHasherParallel measures verification throughput through a
// Hasher with one worker per CPU, the intended production setting.
func BenchmarkHasherParallel(b *testing.B) {
	h := NewHasher(DefaultParams, runtime.NumCPU(), 1<<16, time.Minute)
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			ok, _, err := h.Verify(ctx, "correct horse battery staple", enc)
			if err != nil || !ok {
				b.Error(ok, err)
				return
			}
		}
	})
}

func BenchmarkNewToken(b *testing.B) {
	for b.Loop() {
		if _, err := NewToken(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewCode6(b *testing.B) {
	for b.Loop() {
		if _, err := NewCode(6); err != nil {
			b.Fatal(err)
		}
	}
}
