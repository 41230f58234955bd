package main

import (
	"context"
	"strings"
	"testing"
)

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {.25, 2}, {.5, 3}, {.75, 4}, {1, 5}} {
		if got := quantile(xs, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if xs[0] != 5 {
		t.Error("quantile sorted its input")
	}
	if quantile(nil, .5) != 0 {
		t.Error("quantile of nothing")
	}
}

func TestSummaryPairs(t *testing.T) {
	got := summary(1, "b", []float64{3, 5, 7}, []float64{1, 4, 4})
	if !strings.Contains(got, "median 5.00 ms") || !strings.Contains(got, "median +2.00") {
		t.Errorf("summary = %q", got)
	}
}

// TestCPUCountsChildren: the CPU a command's child spends counts.
func TestCPUCountsChildren(t *testing.T) {
	ms, err := runMS(context.Background(), []string{"sh", "-c", "sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'"}, false)
	if err != nil {
		t.Skip(err)
	}
	if ms < 10 {
		t.Errorf("a busy child counted %.2f ms", ms)
	}
	if _, err := runMS(context.Background(), []string{"false"}, false); err == nil {
		t.Error("a failing command gave no error")
	}
}

// TestWallCountsWaiting: with wall, the time a command sleeps counts,
// which its CPU time would not.
func TestWallCountsWaiting(t *testing.T) {
	ms, err := runMS(context.Background(), []string{"sleep", "0.05"}, true)
	if err != nil {
		t.Skip(err)
	}
	if ms < 50 {
		t.Errorf("sleep 0.05 took %.2f ms of wall clock", ms)
	}
	cpu, err := runMS(context.Background(), []string{"sleep", "0.05"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if cpu >= 50 {
		t.Errorf("sleep 0.05 used %.2f ms of CPU", cpu)
	}
}
