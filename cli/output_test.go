package cli

import (
	"bytes"
	"testing"

	"github.com/rivo/uniseg"
)

// TestTruncateCell cuts at a width in terminal columns, never inside a
// character, and marks the cut.
func TestTruncateCell(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"abc", 3, "abc"},
		{"abcdef", 4, "abc…"},
		{"請求書エクスポート", 18, "請求書エクスポート"},
		{"請求書エクスポート", 6, "請求…"}, // 書 would end past the width
		{"e\u0301e\u0301e\u0301e\u0301", 4, "e\u0301e\u0301e\u0301e\u0301"},
		{"e\u0301e\u0301e\u0301e\u0301", 3, "e\u0301e\u0301…"},
		{"🚀🚀🚀", 4, "🚀…"},
	} {
		got := truncateCell(tc.in, tc.width)
		if got != tc.want || uniseg.StringWidth(got) > tc.width {
			t.Errorf("truncateCell(%q, %d) = %q (%d columns), want %q", tc.in, tc.width, got, uniseg.StringWidth(got), tc.want)
		}
	}
}

// TestWriteColumns pads each cell but the last of a row to its column's
// width in terminal columns, two spaces apart.
func TestWriteColumns(t *testing.T) {
	var b bytes.Buffer
	if err := writeColumns(&b, [][]string{{"NAME", "X"}, {"請求書", "y"}, {"e\u0301", "z"}}); err != nil {
		t.Fatal(err)
	}
	want := "NAME    X\n請求書  y\ne\u0301       z\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
