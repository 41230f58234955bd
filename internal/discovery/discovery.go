package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/appc/spec/schema/types"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/rkt/rkt/internal/image"
)

// MaxPage is how much of a discovery page is read.
const MaxPage = 1 << 20

// App is an image name and its labels.
type App struct {
	Name string
	// Labels are the labels discovery renders templates with: those
	// given, and the defaults of version, os and arch.
	Labels map[string]string
	// Requested are the labels given, which a fetched image must have.
	Requested map[string]string
}

// ParseApp reads "NAME[:VERSION][,LABEL=VALUE...]". The labels os and arch
// default to this machine's, version to "latest".
func ParseApp(s string) (App, error) {
	head, rest, _ := strings.Cut(s, ",")
	name, version, hasVersion := strings.Cut(head, ":")
	if _, err := types.NewACIdentifier(name); err != nil {
		return App{}, fmt.Errorf("image name %q: %w", name, err)
	}
	a := App{Name: name, Labels: map[string]string{}}
	if hasVersion {
		if version == "" {
			return App{}, fmt.Errorf("image %q: empty version after ':'", s)
		}
		a.Labels["version"] = version
	}
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || v == "" {
				return App{}, fmt.Errorf("image %q: label %q is not NAME=VALUE", s, kv)
			}
			if _, err := types.NewACIdentifier(k); err != nil || k == "name" {
				return App{}, fmt.Errorf("image %q: bad label name %q", s, k)
			}
			if _, dup := a.Labels[k]; dup {
				return App{}, fmt.Errorf("image %q: label %q given twice", s, k)
			}
			a.Labels[k] = v
		}
	}
	a.Requested = maps.Clone(a.Labels)
	for k, v := range map[string]string{"version": "latest", "os": "linux", "arch": image.AppcArch(runtime.GOARCH)} {
		if _, ok := a.Labels[k]; !ok {
			a.Labels[k] = v
		}
	}
	return a, nil
}

// Meta is one ac-discovery or ac-discovery-pubkeys tag.
type Meta struct {
	Name, Prefix, Template string
}

// ParseMeta reads the ac-* meta tags of an HTML page (the first MaxPage
// bytes).
func ParseMeta(r io.Reader) []Meta {
	var out []Meta
	z := html.NewTokenizer(io.LimitReader(r, MaxPage))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if tok.DataAtom != atom.Meta {
				continue
			}
			var m Meta
			for _, a := range tok.Attr {
				switch a.Key {
				case "name":
					m.Name = a.Val
				case "content":
					f := strings.Fields(a.Val)
					if len(f) == 2 {
						m.Prefix, m.Template = f[0], f[1]
					}
				}
			}
			if (m.Name == "ac-discovery" || m.Name == "ac-discovery-pubkeys") && m.Prefix != "" && m.Template != "" {
				out = append(out, m)
			}
		}
	}
}

var unrendered = regexp.MustCompile(`\{[^}]*\}`)

// render fills a template; it fails when a variable is left or the result
// is not an http(s) URL.
func render(tpl string, vars map[string]string) (string, bool) {
	for k, v := range vars {
		tpl = strings.ReplaceAll(tpl, "{"+k+"}", v)
	}
	if unrendered.MatchString(tpl) {
		return "", false
	}
	u, err := url.Parse(tpl)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", false
	}
	return tpl, true
}

// Endpoint is where an image and its signature are.
type Endpoint struct {
	ACI, ASC string
}

// Getter returns the body of a successful GET of url.
type Getter func(ctx context.Context, url string) (io.ReadCloser, error)

// Result is what discovery found at one level of the name.
type Result struct {
	Endpoints  []Endpoint
	PublicKeys []string
}

// Discover walks from the whole name up to its first component, asking
// each for its meta tags over https (and plain http when allowHTTP and
// https failed), until want is satisfied by a level's result.
func Discover(ctx context.Context, get Getter, app App, allowHTTP bool, want func(Result) bool) (Result, error) {
	comps := strings.Split(app.Name, "/")
	var errs []error
	for i := len(comps); i > 0; i-- {
		prefix := strings.Join(comps[:i], "/")
		metas, err := page(ctx, get, prefix, allowHTTP)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", prefix, err))
			continue
		}
		res := resolve(app, metas)
		if want(res) {
			return res, nil
		}
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no matching meta tags at any level of the name"))
	}
	return Result{}, fmt.Errorf("discovery of %s failed: %w", app.Name, errors.Join(errs...))
}

func page(ctx context.Context, get Getter, prefix string, allowHTTP bool) ([]Meta, error) {
	body, err := get(ctx, "https://"+prefix+"?ac-discovery=1")
	if err != nil && allowHTTP {
		body, err = get(ctx, "http://"+prefix+"?ac-discovery=1")
	}
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return ParseMeta(body), nil
}

// resolve renders the tags whose prefix the name starts with.
func resolve(app App, metas []Meta) Result {
	vars := map[string]string{"name": app.Name}
	for k, v := range app.Labels {
		vars[k] = v
	}
	var res Result
	for _, m := range metas {
		if !strings.HasPrefix(app.Name, m.Prefix) {
			continue
		}
		switch m.Name {
		case "ac-discovery":
			vars["ext"] = "aci"
			aci, ok1 := render(m.Template, vars)
			vars["ext"] = "aci.asc"
			asc, ok2 := render(m.Template, vars)
			if ok1 && ok2 {
				res.Endpoints = append(res.Endpoints, Endpoint{ACI: aci, ASC: asc})
			}
		case "ac-discovery-pubkeys":
			if u, ok := render(m.Template, vars); ok && !slices.Contains(res.PublicKeys, u) {
				res.PublicKeys = append(res.PublicKeys, u)
			}
		}
	}
	return res
}
