package http_test

import (
	"sync/atomic"
	"testing"
	"os"
	"fmt"
)

var zzN atomic.Int64

func TestMain(m *testing.M) {
	c := m.Run()
	fmt.Fprintln(os.Stderr, "ENVS", zzN.Load())
	os.Exit(c)
}
