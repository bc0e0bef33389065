package rowcache

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Name  string
	Items []string
}

// Fields has a field of every kind Clone copies (exported, so that outer
// embeds it as an exported field).
type Fields struct {
	Plain string
	At    time.Time
	When  *time.Time
	Ptr   *inner
	Slice []inner
	Map   map[string]*inner
	Array [2][]int
	Any   any
}

// outer adds an unexported field Clone shares (Cloneable refuses it).
type outer struct {
	Fields
	private []int
}

func populated() outer {
	at := time.Date(2026, 12, 2, 1, 2, 3, 0, time.UTC)
	return outer{Fields: Fields{Plain: "p", At: at, When: &at, Ptr: &inner{Name: "n", Items: []string{"a"}},
		Slice: []inner{{Name: "s", Items: []string{"b"}}}, Map: map[string]*inner{"k": {Name: "m", Items: []string{"c"}}},
		Array: [2][]int{{1}, {2}}, Any: &inner{Name: "i"}}, private: []int{9}}
}

// A clone is equal to its original and shares nothing a caller can change.
func TestCloneSharesNothing(t *testing.T) {
	orig := populated()
	c := Clone(orig)
	if !reflect.DeepEqual(orig, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", orig, c)
	}
	*c.When = time.Time{}
	c.Ptr.Name, c.Ptr.Items[0] = "x", "x"
	c.Slice[0].Items[0] = "x"
	c.Map["k"].Items[0] = "x"
	c.Map["new"] = nil
	c.Array[0][0] = 0
	c.Any.(*inner).Name = "x"
	if !reflect.DeepEqual(orig, populated()) {
		t.Fatalf("changing the clone changed the original: %+v", orig)
	}
	var nilOuter outer
	if !reflect.DeepEqual(Clone(nilOuter), nilOuter) {
		t.Error("the zero value does not clone to itself")
	}
}

func TestCacheDecodesOnlyChangedText(t *testing.T) {
	var c Cache[Fields]
	decodes := 0
	decode := func() (Fields, error) { decodes++; return populated().Fields, nil }
	a, err := c.Decode("row", []string{`{"a":1}`, `[]`}, decode)
	if err != nil || decodes != 1 {
		t.Fatalf("first read: %v, %d decodes", err, decodes)
	}
	a.Ptr.Name = "changed by a writer"
	b, err := c.Decode("row", []string{`{"a":1}`, `[]`}, decode)
	if err != nil || decodes != 1 {
		t.Fatalf("same text: %v, %d decodes", err, decodes)
	}
	if b.Ptr.Name != "n" || b.Ptr == a.Ptr {
		t.Errorf("a reader saw another reader's change: %q", b.Ptr.Name)
	}
	b.Ptr.Name, b.Map["k"].Items[0] = "changed by a reader of the cached value", "changed"
	if c, _ := c.Decode("row", []string{`{"a":1}`, `[]`}, decode); c.Ptr.Name != "n" || c.Map["k"].Items[0] != "c" || decodes != 1 {
		t.Errorf("a cache hit shared the cached value: %+v (%d decodes)", c.Ptr, decodes)
	}
	if _, err := c.Decode("row", []string{`{"a":2}`, `[]`}, decode); err != nil || decodes != 2 {
		t.Errorf("changed text: %v, %d decodes", err, decodes)
	}
	if _, err := c.Decode("other", []string{`{"a":2}`, `[]`}, decode); err != nil || decodes != 3 {
		t.Errorf("another key: %v, %d decodes", err, decodes)
	}
	boom := errors.New("bad json")
	if _, err := c.Decode("bad", []string{`{`}, func() (Fields, error) { return Fields{}, boom }); !errors.Is(err, boom) {
		t.Errorf("decode error %v", err)
	}
	if c.Len() != 2 {
		t.Errorf("%d rows cached, want 2 (a failed decode caches nothing)", c.Len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := Cache[int]{Max: 3}
	for i := range 10 {
		if _, err := c.Decode(strconv.Itoa(i), []string{"x"}, func() (int, error) { return i, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 3 {
		t.Errorf("%d rows cached, want 3", c.Len())
	}
	v, _ := c.Decode("9", []string{"x"}, func() (int, error) { return -1, nil })
	if v != 9 {
		t.Errorf("the last row was forgotten: %d", v)
	}
}

// A type with an unexported field holding references, a channel or a
// function is refused: its copies would share memory.
func TestCacheRefusesTypesItCannotCopy(t *testing.T) {
	var c Cache[outer]
	if _, err := c.Decode("k", []string{"x"}, func() (outer, error) { return outer{}, nil }); err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("outer.private: %v", err)
	}
	if err := Cloneable(reflect.TypeFor[struct{ C chan int }]()); err == nil {
		t.Error("a channel was accepted")
	}
	type hidden struct{ inner } // an embedded struct of an unexported type is an unexported field
	if err := Cloneable(reflect.TypeFor[hidden]()); err == nil {
		t.Error("an embedded unexported struct was accepted")
	}
	if err := Cloneable(reflect.TypeFor[Fields]()); err != nil {
		t.Errorf("Fields: %v", err)
	}
}

// A row longer than MaxRowBytes is decoded at every read and not kept.
func TestCacheSkipsLargeRows(t *testing.T) {
	c := Cache[int]{MaxRowBytes: 4}
	decodes := 0
	for range 2 {
		if _, err := c.Decode("k", []string{"12", "345"}, func() (int, error) { decodes++; return 1, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if decodes != 2 || c.Len() != 0 {
		t.Errorf("%d decodes, %d rows cached; want 2 and 0", decodes, c.Len())
	}
}
