package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A bad /start-load payload is answered 400 with every problem, before
// anything is started (the handler never reaches Temporal).
func TestStartLoadRejectsBadPayload(t *testing.T) {
	h := apiHandler(nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/start-load",
		strings.NewReader(`{"host": "localhost", "port": 8000, "request_rate": 0, "dataset_name": "sonet"}`)))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		Problems []struct{ Field, Problem string } `json:"problems"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, p := range body.Problems {
		fields[p.Field] = true
	}
	if !fields["request_rate"] || !fields["dataset_name"] {
		t.Errorf("problems %+v must name request_rate and dataset_name", body.Problems)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/start-load", strings.NewReader(`not json`)))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d for a non-JSON body", rec.Code)
	}
}
