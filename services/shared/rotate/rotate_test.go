package rotate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestTheFootprintStaysUnderTwoCaps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traces.jsonl")
	f, err := Open(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	for range 5000 { // about 5 MiB through a 1 MiB cap
		if _, err := f.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.Stat(path)
	old, err := os.Stat(path + ".1")
	if err != nil || cur.Size() > 1<<20 || old.Size() > 1<<20 || cur.Size() == 0 {
		t.Fatalf("sizes: current %d, rotated %v %v", cur.Size(), old, err)
	}
	if _, err := os.Stat(path + ".2"); !os.IsNotExist(err) {
		t.Fatal("more than one rotated copy")
	}
	// Reopening appends to what is there and keeps counting it.
	f, err = Open(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.size != cur.Size() {
		t.Fatalf("size after reopen %d, want %d", f.size, cur.Size())
	}
	if _, err := f.Write(line); err != nil {
		t.Fatal(err)
	}
	if _, err := (&File{}).Write(line); err == nil {
		t.Fatal("a closed file took a write")
	}
}
