package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/testutil"
)

// aceValidatorPkg is the appc ACE validator, from the appc/spec module
// this rkt is built with (go.mod pins it: v0.8.11).
const aceValidatorPkg = "github.com/appc/spec/ace"

// aceValidator builds the validator, static. Its package needs no module
// rkt itself does not build with (appc/spec, go-semver, pflag, go4,
// inf.v0), so wherever rkt builds it builds: a failure is the test's.
func aceValidator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ace-validator")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin, aceValidatorPkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the ACE validator (%s): %v\n%s", aceValidatorPkg, err, out)
	}
	return bin
}

// aceImage packages the validator as the ACI the manifest of appc/spec's
// ace/image_manifest_<which>.json.in describes (its @ACI_OS@/@ACI_ARCH@
// filled in), with the validator at /ace-validator and nothing else.
func aceImage(t *testing.T, which, validator string) string {
	t.Helper()
	bin, err := os.ReadFile(validator)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(moduleDir(t, "github.com/appc/spec"), "ace", "image_manifest_"+which+".json.in")
	tmpl, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("the validator's manifest: %v", err)
	}
	arch := runtime.GOARCH
	if arch == "arm64" {
		arch = "aarch64"
	}
	manifest := strings.NewReplacer("@ACI_OS@", runtime.GOOS, "@ACI_ARCH@", arch).Replace(string(tmpl))
	file := filepath.Join(t.TempDir(), "ace-validator-"+which+".aci")
	aci := testutil.ACI(t, manifest, testutil.File("ace-validator", 0o755, string(bin)))
	if err := os.WriteFile(file, aci, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// moduleDir is where the go command keeps a module this one requires.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("cannot find module %s, which go.mod requires: %v", mod, err)
	}
	return strings.TrimSpace(string(out))
}

// TestACEValidator runs appc's ACE validator as rkt 1.x's functional test
// did: the main and sidekick images in one pod, registered with the
// metadata service, sharing an empty volume "database". Each validator
// (pre-start, main, sidekick, post-stop) checks its side of the spec and
// prints "<mode> OK", or "<mode> FAIL" and what was wrong.
func TestACEValidator(t *testing.T) {
	e, _ := podEnv(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the ACE validator")
	}
	t.Parallel()
	validator := aceValidator(t)
	aceMain, aceSidekick := aceImage(t, "main", validator), aceImage(t, "sidekick", validator)
	m := startMDS(t, e)
	r := rkt(t, e, insecureImage, "run", "--mds-register", "--mds-socket="+m.socket,
		"--volume=database,kind=empty", aceMain, aceSidekick)
	if r.code != 0 || strings.Contains(r.stdout, "FAIL") {
		t.Fatalf("the ACE validator failed:\n%s", r)
	}
	// prestart first, and main's poststop after main. The sidekick may
	// print after the poststop: it exits once it sees main's file, and
	// main's post-stop handler starts when main exits, not when the pod's
	// other apps do.
	var got []string
	for _, l := range lines(r.stdout) {
		if mode, ok := strings.CutSuffix(l, " OK"); ok {
			got = append(got, mode)
		}
	}
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, []string{"main", "poststop", "prestart", "sidekick"}) || got[0] != "prestart" ||
		slices.Index(got, "main") > slices.Index(got, "poststop") {
		t.Fatalf("validators that passed: %q, want prestart, then main before poststop, and sidekick\n%s", got, r)
	}
	// The validator does fail an ACE that misses something: here, the
	// metadata service.
	r = rkt(t, e, insecureImage, "run", "--volume=database,kind=empty", aceMain, aceSidekick)
	if r.code == 0 || !strings.Contains(r.stdout, "main FAIL") || !strings.Contains(r.stderr, "AC_METADATA_URL is not set") {
		t.Fatalf("the validator passed a pod without the metadata service:\n%s", r)
	}
}
