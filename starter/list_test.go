package main

import (
	"bytes"
	"testing"
	"time"
)

func TestPrintRuns(t *testing.T) {
	closed := time.Date(2026, 1, 2, 5, 0, 0, 0, time.UTC)
	rows := []runRow{
		{ID: "stress-20260102-040000-bbbb2222", Status: "Running", StartTime: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)},
		{ID: "stress-20260102-030405-aaaa1111", Status: "Completed", StartTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), CloseTime: &closed},
	}
	var b bytes.Buffer
	if err := printRuns(&b, rows, false); err != nil {
		t.Fatal(err)
	}
	want := `ID                               STATUS     START                 CLOSE
stress-20260102-040000-bbbb2222  Running    2026-01-02T04:00:00Z  —
stress-20260102-030405-aaaa1111  Completed  2026-01-02T03:04:05Z  2026-01-02T05:00:00Z
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := printRuns(&b, rows, true); err != nil {
		t.Fatal(err)
	}
	wantJSON := `[
  {
    "id": "stress-20260102-040000-bbbb2222",
    "status": "Running",
    "start_time": "2026-01-02T04:00:00Z"
  },
  {
    "id": "stress-20260102-030405-aaaa1111",
    "status": "Completed",
    "start_time": "2026-01-02T03:04:05Z",
    "close_time": "2026-01-02T05:00:00Z"
  }
]
`
	if b.String() != wantJSON {
		t.Errorf("JSON\n%s\nwant\n%s", b.String(), wantJSON)
	}
	b.Reset()
	if err := printRuns(&b, nil, true); err != nil || b.String() != "[]\n" {
		t.Errorf("no runs as JSON: %q %v", b.String(), err)
	}
}
