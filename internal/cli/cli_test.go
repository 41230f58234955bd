package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/testutil"
)

func TestOneLineEscapesControlCharacters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain error", "plain error"},
		{"two\nlines", "two lines"},
		{"tab\tand  spaces", "tab and spaces"},
		{"esc \x1b[2Jclear", `esc \x1b[2Jclear`},
		{"bell\a and del\x7f", `bell\x07 and del\x7f`},
		{"c1 \u009b csi", `c1 \x9b csi`},
		{"bad utf8 \xff end", `bad utf8 \xff end`},
		{"real replacement \uFFFD ok", "real replacement \uFFFD ok"},
		{"unicode é ✓", "unicode é ✓"},
	} {
		if got := oneLine(tc.in); got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorTree(t *testing.T) {
	base := errors.New("connection refused")
	err := fmt.Errorf("docker://x: %w", fmt.Errorf("registry 127.0.0.1:1: %w", base))
	got := errorTree(err)
	want := "docker://x\n  └─registry 127.0.0.1:1\n    └─connection refused"
	if got != want {
		t.Fatalf("errorTree =\n%s\nwant\n%s", got, want)
	}
	if got := errorTree(errdefs.NotFound(base)); got != "connection refused" {
		t.Fatalf("a kind wrapper adds a level: %q", got)
	}
}

func TestInsecureOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"none", "none", false},
		{"image", "image", false},
		{"image,http", "http,image", false},
		{"all-fetch", "http,image,tls", false},
		{"all-run", "capabilities,paths,seccomp", false},
		{"all", "capabilities,http,image,paths,pubkey,seccomp,tls", false},
		{"ondisk", "none", false},
		{"IMAGE", "image", false},
		{"bogus", "", true},
		{"image,,http", "", true},
	} {
		var o insecureOptions
		err := o.Set(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("Set(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && o.String() != tc.want {
			t.Errorf("Set(%q) = %q, want %q", tc.in, o.String(), tc.want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{nil, errdefs.ExitUsage, ""},
		{[]string{"image"}, errdefs.ExitUsage, ""},
		{[]string{"bogus"}, errdefs.ExitFailure, `rkt: unknown command "bogus"`},
		{[]string{"fetch", "--bogus"}, errdefs.ExitFailure, "fetch: unknown flag: --bogus"},
		{[]string{"--insecure-options=nope", "version"}, errdefs.ExitFailure, `unknown insecure option "nope"`},
		{[]string{"fetch"}, errdefs.ExitFailure, "fetch: requires at least 1 arg"},
		{[]string{"fetch", "--pull-policy=sometimes", "x"}, errdefs.ExitFailure, `fetch: invalid pull policy "sometimes"`},
		{[]string{"version"}, 0, ""},
		{[]string{"vers"}, 0, ""},
		{[]string{"image", "list", "--order=up"}, errdefs.ExitFailure, `invalid --order "up"`},
		{[]string{"image", "list", "--fields=id,bogus"}, errdefs.ExitFailure, `unknown field "bogus"`},
	} {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, start: time.Now()}
		args := append([]string{"--dir=" + dir, "--system-config=" + dir + "/s", "--local-config=" + dir + "/l"}, tc.args...)
		code := a.run(args)
		if code != tc.code {
			t.Errorf("rkt %v exited %d, want %d (stderr %q)", tc.args, code, tc.code, stderr.String())
		}
		if tc.err != "" && !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("rkt %v stderr = %q, want it to contain %q", tc.args, stderr.String(), tc.err)
		}
		if tc.code == errdefs.ExitFailure && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("rkt %v printed more than one error line: %q", tc.args, stderr.String())
		}
	}
}

func TestHumanFormats(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "now"},
		{time.Second, "1 second ago"},
		{90 * time.Second, "1 minute ago"},
		{3 * time.Hour, "3 hours ago"},
		{49 * time.Hour, "2 days ago"},
		{400 * 24 * time.Hour, "1 year ago"},
	} {
		if got := humanTime(now.Add(-tc.ago), now); got != tc.want {
			t.Errorf("humanTime(-%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 12 << 20: "12MiB", 1536: "1.5KiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestHelpGolden pins the help text of every command, so a changed flag or
// default shows up in review.
func TestHelpGolden(t *testing.T) {
	for _, cmd := range [][]string{
		{"help"},
		{"fetch", "--help"},
		{"image", "--help"},
		{"image", "list", "--help"},
		{"image", "render", "--help"},
		{"image", "gc", "--help"},
	} {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, start: time.Now()}
		if code := a.run(cmd); code != 0 {
			t.Fatalf("rkt %v exited %d: %s", cmd, code, stderr.String())
		}
		testutil.Golden(t, "help-"+strings.Join(cmd, "-"), stdout.Bytes())
	}
}
