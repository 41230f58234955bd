package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/testutil"
)

// maxStage1Size is the largest a built stage1 binary (bin/stage1-*) may be.
// A stage1 is copied into, or mounted by, every pod, and today's flavors need
// nothing but x/sys and the abi package: a static Go binary that size is about
// 2-5 MiB. 16 MiB leaves room for the kvm flavor's helpers but fails loudly
// when something drags in a registry client, TLS and HTTP stacks, or gRPC.
const maxStage1Size = 16 << 20

// pkg is the part of `go list -json` output the rules look at.
type pkg struct {
	ImportPath string
	Imports    []string // direct imports
	Deps       []string // all transitive dependencies, sorted
	Error      *struct{ Err string }
}

// violation is one broken rule: pkg depends on dep, which rule forbids.
type violation struct {
	rule, pkg, dep string
}

func (v violation) String() string {
	return fmt.Sprintf("%s: %s -> %s", v.rule, v.pkg, v.dep)
}

// dep is a dependency as the rules see it.
type dep struct {
	// path is relative to the module path ("internal/store") when local is
	// set, and the full import path ("net/http", "internal/reflectlite" of
	// the standard library) otherwise.
	path  string
	local bool
}

// rule is one arrow of DESIGN.md section 4. The package p given to applies
// and forbids is always of this module, relative to the module path
// ("cmd/rkt", "internal/stage1/fly").
type rule struct {
	name string
	// applies reports whether the rule constrains package p.
	applies func(p string) bool
	// direct limits the rule to direct imports; otherwise the package's whole
	// transitive dependency set is checked.
	direct bool
	// forbids returns what of d package p may not depend on: d.path itself,
	// or the root of a forbidden tree (so that linking gRPC is one violation,
	// not one per gRPC package), or "" when d is allowed.
	forbids func(p string, d dep) string
}

// ifTrue returns s if ok, "" otherwise.
func ifTrue(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// under reports whether path is prefix or a package below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// underAny reports whether path is under one of prefixes.
func underAny(path string, prefixes ...string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return under(path, p) })
}

// isStage1 reports whether p is stage1 code: the abi, a flavor, pod init, or a
// stage1 binary's main package.
func isStage1(p string) bool {
	return under(p, "internal/stage1") || strings.HasPrefix(p, "cmd/stage1-")
}

// rules are the import-graph rules of DESIGN.md section 4 and code-models.md
// section 9.
var rules = []rule{
	{
		// A stage1 runs inside or beside every pod; it must stay small and must
		// not be able to fetch, verify or store images, nor talk to a network.
		name:    "stage1 links no store/image/trust/stage0/cli/net/http/grpc",
		applies: isStage1,
		forbids: func(_ string, d dep) string {
			if d.local {
				return ifTrue(underAny(d.path, "internal/store", "internal/image", "internal/trust",
					"internal/stage0", "internal/cli"), d.path)
			}
			switch {
			case d.path == "net/http": // its helpers (httptrace, internal/...) alone are harmless
				return d.path
			case under(d.path, "google.golang.org/grpc"):
				return "google.golang.org/grpc"
			}
			return ""
		},
	},
	{
		// stage0 reaches a flavor only by exec'ing it through the abi.
		name:    "cmd/rkt links no stage1 flavor",
		applies: func(p string) bool { return p == "cmd/rkt" },
		forbids: func(_ string, d dep) string {
			return ifTrue(d.local && under(d.path, "internal/stage1") && d.path != "internal/stage1" &&
				!under(d.path, "internal/stage1/abi"), d.path)
		},
	},
	{
		// The pod model is a leaf; its adapters live under internal/podspec/.
		name:    "podspec imports no other package of this module",
		applies: func(p string) bool { return under(p, "internal/podspec") },
		forbids: func(_ string, d dep) string {
			return ifTrue(d.local && !under(d.path, "internal/podspec"), d.path)
		},
	},
	{
		// The command tree is wired up by cmd/rkt alone.
		name:    "only cmd/rkt imports internal/cli",
		applies: func(p string) bool { return p != "cmd/rkt" && !under(p, "internal/cli") },
		direct:  true,
		forbids: func(_ string, d dep) string { return ifTrue(d.local && under(d.path, "internal/cli"), d.path) },
	},
	{
		// Error kinds sit below everything else.
		name:    "errdefs imports nothing from this module",
		applies: func(p string) bool { return under(p, "internal/errdefs") },
		forbids: func(p string, d dep) string { return ifTrue(d.local && !under(d.path, p), d.path) },
	},
}

// check applies rules to pkgs, whose import paths belong to module mod, and
// returns the violations sorted by rule, package and dependency.
func check(mod string, rules []rule, pkgs []pkg) []violation {
	rel := func(path string) dep {
		if path == mod {
			return dep{path: ".", local: true}
		}
		if r, ok := strings.CutPrefix(path, mod+"/"); ok {
			return dep{path: r, local: true}
		}
		return dep{path: path}
	}
	var out []violation
	for _, p := range pkgs {
		self := rel(p.ImportPath)
		if !self.local {
			continue // a dependency listed by `go list -deps`
		}
		name := self.path
		for _, r := range rules {
			if !r.applies(name) {
				continue
			}
			deps := p.Deps
			if r.direct {
				deps = p.Imports
			}
			for _, d := range deps {
				if what := r.forbids(name, rel(d)); what != "" {
					out = append(out, violation{rule: r.name, pkg: name, dep: what})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b violation) int {
		return strings.Compare(a.String(), b.String())
	})
	return slices.Compact(out)
}

// binary is a built file under bin/.
type binary struct {
	name string
	size int64
}

// oversized returns a message for each binary larger than limit.
func oversized(bins []binary, limit int64) []string {
	var out []string
	for _, b := range bins {
		if b.size > limit {
			out = append(out, fmt.Sprintf("%s is %.1f MiB, over the %.1f MiB limit",
				b.name, float64(b.size)/(1<<20), float64(limit)/(1<<20)))
		}
	}
	return out
}

// goTool returns the go command that `go test` put first in PATH.
func goTool(t *testing.T) string {
	t.Helper()
	g, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	return g
}

// listPackages runs `go list` over the whole module in root.
func listPackages(t *testing.T, goCmd, root string) (mod string, pkgs []pkg) {
	t.Helper()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), goCmd, args...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}
	mod = strings.TrimSpace(string(run("list", "-m")))
	// -e: a package that does not compile still reports its imports; the
	// compile error is some other test's business. Deps is filled in without
	// -deps, which would only add the dependencies' own entries.
	dec := json.NewDecoder(bytes.NewReader(run("list", "-e", "-json=ImportPath,Imports,Deps,Error", "./...")))
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return mod, pkgs
}

// TestLayering fails when a package of this module breaks an import-graph
// rule of DESIGN.md section 4.
func TestLayering(t *testing.T) {
	goCmd := goTool(t)
	root := testutil.ModuleRoot(t, goCmd)
	testutil.ReadModuleSources(t, root)
	mod, pkgs := listPackages(t, goCmd, root)
	if len(pkgs) == 0 {
		t.Fatalf("go list ./... in %s found no packages", root)
	}
	for _, p := range pkgs {
		if p.Error != nil {
			t.Logf("%s: go list: %s (imports checked as far as they are known)", p.ImportPath, p.Error.Err)
		}
	}
	t.Logf("checked %d packages of %s against %d rules", len(pkgs), mod, len(rules))
	for _, v := range check(mod, rules, pkgs) {
		t.Errorf("layering violated: %s", v)
	}
}

// TestStage1Size reports the size of each built stage1 binary and fails when
// one is over maxStage1Size.
func TestStage1Size(t *testing.T) {
	root := testutil.ModuleRoot(t, goTool(t))
	matches, err := filepath.Glob(filepath.Join(root, "bin", "stage1-*"))
	if err != nil {
		t.Fatal(err)
	}
	var bins []binary
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		// Only executables: a packed stage1 image (say, with a VM kernel) is
		// not a Go binary and has no business under this limit.
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		bins = append(bins, binary{name: filepath.Base(m), size: fi.Size()})
		t.Logf("%s: %d bytes (%.1f MiB)", filepath.Base(m), fi.Size(), float64(fi.Size())/(1<<20))
	}
	if len(bins) == 0 {
		t.Logf("no stage1 binaries under %s (bin/stage1-*); nothing to measure", filepath.Join(root, "bin"))
	}
	for _, msg := range oversized(bins, maxStage1Size) {
		t.Error(msg)
	}
}

// TestCheck shows that each rule fires on a fake import graph, and stays
// quiet on the allowed cases next to it.
func TestCheck(t *testing.T) {
	t.Parallel()
	const mod = "example.com/m"
	m := func(p string) string { return mod + "/" + p }
	tests := []struct {
		name string
		pkgs []pkg
		want []string // violation.String() of each expected violation
	}{
		{
			name: "stage1 flavor imports store directly",
			pkgs: []pkg{{ImportPath: m("internal/stage1/fly"), Imports: []string{m("internal/store")}, Deps: []string{m("internal/store")}}},
			want: []string{rules[0].name + ": internal/stage1/fly -> internal/store"},
		},
		{
			name: "stage1 reaches net/http through a helper",
			pkgs: []pkg{{
				ImportPath: m("internal/stage1/ns"),
				Imports:    []string{m("internal/network")},
				Deps:       []string{"crypto/tls", m("internal/network"), "net/http", "net/http/httptrace", "net/http/internal"},
			}},
			want: []string{rules[0].name + ": internal/stage1/ns -> net/http"},
		},
		{
			name: "stage1 binary main links grpc image and trust",
			pkgs: []pkg{{
				ImportPath: m("cmd/stage1-kvm"),
				Deps:       []string{"google.golang.org/grpc", "google.golang.org/grpc/codes", m("internal/image/remote"), m("internal/trust")},
			}},
			want: []string{
				rules[0].name + ": cmd/stage1-kvm -> google.golang.org/grpc",
				rules[0].name + ": cmd/stage1-kvm -> internal/image/remote",
				rules[0].name + ": cmd/stage1-kvm -> internal/trust",
			},
		},
		{
			name: "stage1 abi is stage1 code too",
			pkgs: []pkg{{ImportPath: m("internal/stage1/abi"), Deps: []string{m("internal/cli")}}},
			want: []string{
				rules[0].name + ": internal/stage1/abi -> internal/cli",
			},
		},
		{
			name: "stage1 may use errdefs, isolation, x/sys, net and HTTP helper packages",
			pkgs: []pkg{{
				ImportPath: m("internal/stage1/fly"),
				Deps:       []string{"golang.org/x/sys/unix", m("internal/errdefs"), m("internal/isolation/mount"), "net", "net/http/httptrace", m("internal/stage1/abi"), m("internal/storeutil")},
			}},
		},
		{
			name: "cmd/rkt links a flavor transitively",
			pkgs: []pkg{{
				ImportPath: m("cmd/rkt"),
				Imports:    []string{m("internal/cli")},
				Deps:       []string{m("internal/cli"), m("internal/stage0"), m("internal/stage1/abi"), m("internal/stage1/fly")},
			}},
			want: []string{rules[1].name + ": cmd/rkt -> internal/stage1/fly"},
		},
		{
			name: "cmd/rkt may link the abi only",
			pkgs: []pkg{{
				ImportPath: m("cmd/rkt"),
				Imports:    []string{m("internal/cli")},
				Deps:       []string{m("internal/cli"), m("internal/stage1/abi"), m("internal/stage1/abi/v2")},
			}},
		},
		{
			name: "podspec imports store",
			pkgs: []pkg{{ImportPath: m("internal/podspec"), Imports: []string{m("internal/store")}, Deps: []string{"encoding/json", m("internal/store")}}},
			want: []string{rules[2].name + ": internal/podspec -> internal/store"},
		},
		{
			name: "podspec adapter reaches errdefs transitively",
			pkgs: []pkg{{ImportPath: m("internal/podspec/oci"), Deps: []string{m("internal/errdefs"), m("internal/podspec")}}},
			want: []string{rules[2].name + ": internal/podspec/oci -> internal/errdefs"},
		},
		{
			name: "podspec may use third-party and its own adapters",
			pkgs: []pkg{{ImportPath: m("internal/podspec/appc"), Deps: []string{"github.com/appc/spec/schema", m("internal/podspec")}}},
		},
		{
			name: "stage0 imports cli",
			pkgs: []pkg{{ImportPath: m("internal/stage0"), Imports: []string{m("internal/cli")}, Deps: []string{m("internal/cli")}}},
			want: []string{rules[3].name + ": internal/stage0 -> internal/cli"},
		},
		{
			name: "cli rule is about direct imports",
			pkgs: []pkg{
				{ImportPath: m("cmd/rkt"), Imports: []string{m("internal/cli")}, Deps: []string{m("internal/cli")}},
				{ImportPath: m("internal/cli"), Imports: []string{m("internal/cli/table")}, Deps: []string{m("internal/cli/table")}},
				{ImportPath: m("test/e2e"), Imports: []string{m("internal/testutil")}, Deps: []string{m("internal/cli"), m("internal/testutil")}},
			},
		},
		{
			name: "errdefs imports another package of the module",
			pkgs: []pkg{{ImportPath: m("internal/errdefs"), Imports: []string{m("internal/config")}, Deps: []string{"errors", m("internal/config")}}},
			want: []string{rules[4].name + ": internal/errdefs -> internal/config"},
		},
		{
			name: "errdefs may import the standard library, internal/ packages of std included",
			pkgs: []pkg{{ImportPath: m("internal/errdefs"), Imports: []string{"errors"}, Deps: []string{"errors", "internal/reflectlite"}}},
		},
		{
			name: "standard library internal/ packages are not this module's",
			pkgs: []pkg{{ImportPath: m("internal/podspec"), Deps: []string{"internal/abi", "internal/cli", "internal/stage1/fly"}}},
		},
		{
			name: "dependencies listed by go list -deps are not checked",
			pkgs: []pkg{{ImportPath: "example.com/other/internal/stage1/x", Deps: []string{"net/http"}}},
		},
		{
			name: "one package breaking two rules",
			pkgs: []pkg{{
				ImportPath: m("internal/stage1/podinit"),
				Imports:    []string{m("internal/cli")},
				Deps:       []string{m("internal/cli"), "net/http"},
			}},
			want: []string{
				rules[3].name + ": internal/stage1/podinit -> internal/cli",
				rules[0].name + ": internal/stage1/podinit -> internal/cli",
				rules[0].name + ": internal/stage1/podinit -> net/http",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, v := range check(mod, rules, tc.pkgs) {
				got = append(got, v.String())
			}
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("check(%s) =\n\t%s\nwant\n\t%s", tc.name, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}

	// Every rule must be shown to fire by at least one case above.
	fired := map[string]bool{}
	for _, tc := range tests {
		for _, w := range tc.want {
			fired[strings.SplitN(w, ": ", 2)[0]] = true
		}
	}
	for _, r := range rules {
		if !fired[r.name] {
			t.Errorf("rule %q has no test case that makes it fire", r.name)
		}
	}
}

// TestOversized shows that the size limit fires.
func TestOversized(t *testing.T) {
	t.Parallel()
	bins := []binary{{"stage1-fly", 3 << 20}, {"stage1-ns", maxStage1Size}, {"stage1-kvm", maxStage1Size + 1}}
	got := oversized(bins, maxStage1Size)
	if len(got) != 1 || !strings.HasPrefix(got[0], "stage1-kvm is 16.0 MiB") {
		t.Errorf("oversized(%v, %d) = %q, want one message about stage1-kvm", bins, maxStage1Size, got)
	}
}
