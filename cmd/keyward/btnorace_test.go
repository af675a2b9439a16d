//go:build !race

package main

// btRaceEnabled reports whether the tests run under the race detector; the
// keyward binary they build is then race-enabled too.
const btRaceEnabled = false
