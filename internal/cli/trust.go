//go:build !rktfront

package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/fetch"
	"github.com/rkt/rkt/internal/image"
	"github.com/rkt/rkt/internal/trust"
)

// keystore is the keystore of this configuration: system and local layers.
func (a *app) keystore() trust.Keystore {
	return trust.Keystore{System: filepath.Join(a.systemConfig, trust.Dir), Local: filepath.Join(a.localConfig, trust.Dir)}
}

func (a *app) trustCommand() *cobra.Command {
	var (
		prefix            string
		root, skipReview  bool
		insecureAllowHTTP bool
	)
	cmd := &cobra.Command{
		Use:   "trust [--prefix=PREFIX | --root] [KEYFILE|URL]...",
		Short: "Trust a key for image signature verification",
		Long: `Add public keys to the local keystore (<local-config>/trustedkeys):
trusted for the images whose names are under PREFIX (whole path
components: a key for example.com/app is not one for example.com/apps), or,
with --root, for every image. Each key's fingerprint (and identities) are
shown, and the key is added only when you answer yes, unless
--skip-fingerprint-review. A key is a file (a path or a file:// URL), or
an https:// URL (http:// with --insecure-allow-http); a --root key is a
file. A system key (<system-config>/trustedkeys) is masked by an empty
local file of the same path.

ACIs (appc names) are signed with OpenPGP keys, armored or binary. With no
key given, the keys of an appc prefix are found by appc discovery
(ac-discovery-pubkeys).

Registry images (docker://) are signed with cosign: trust a PEM public key
(what "cosign generate-key-pair" writes to cosign.pub: ECDSA, RSA or
Ed25519) for a docker:// prefix, a registry (docker://REGISTRY) or a
repository (docker://REGISTRY/REPO, which also covers REGISTRY/REPO/sub).
Names are read as image references are: docker://busybox is
docker://index.docker.io/library/busybox. A PEM key with --root is trusted
for every registry image. Only the key is checked: transparency log (Rekor)
entries and keyless (certificate) signatures are not.`,
		Example: `  rkt trust --prefix=example.com/app ./pubkey.gpg
  rkt trust --root --skip-fingerprint-review /etc/keys/release.asc
  rkt trust --prefix=docker://registry.example.com/team/app cosign.pub`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if root == (prefix != "") {
				return errdefs.InvalidArgument(errors.New("give exactly one of --prefix and --root"))
			}
			docker := trust.IsDockerPrefix(prefix)
			if docker {
				norm, err := image.NormalizeDockerPrefix(prefix)
				if err != nil {
					return err
				}
				prefix = norm
			} else if prefix != "" {
				if err := trust.CheckPrefix(prefix); err != nil {
					return err
				}
			}
			kf := a.keyFetcher(insecureAllowHTTP) // one client for discovery and every key
			if len(args) == 0 {
				if root {
					return errdefs.InvalidArgument(errors.New("--root needs a key file"))
				}
				if docker {
					return errdefs.InvalidArgument(fmt.Errorf("prefix %s: give the PEM public key file (cosign.pub): registry images have no key discovery", prefix))
				}
				urls, err := kf.DiscoverPublicKeys(cmd.Context(), prefix)
				if err != nil {
					return err
				}
				args = urls
			}
			ks := a.keystore()
			in := bufio.NewReader(a.stdin)
			for _, src := range args {
				if root && strings.Contains(src, "://") && !strings.HasPrefix(src, "file://") {
					return errdefs.InvalidArgument(fmt.Errorf("%s: --root keys come from files only (a path or a file:// URL)", src))
				}
				data, err := readTrustKey(cmd.Context(), kf, src, insecureAllowHTTP)
				if err != nil {
					return err
				}
				pemKey := trust.IsPEMPublicKey(data)
				switch {
				case docker && !pemKey:
					return errdefs.InvalidArgument(fmt.Errorf("key %s: registry images (%s) are verified with cosign keys: give a PEM public key (cosign.pub), not an OpenPGP key", src, prefix))
				case pemKey && !docker && !root:
					return errdefs.InvalidArgument(fmt.Errorf("key %s: a PEM public key (cosign) is trusted for registry images only: give a docker:// prefix (or --root), or an OpenPGP key for %s", src, prefix))
				case pemKey:
					k, err := trust.ParseCosignKey(data)
					if err != nil {
						return errdefs.InvalidArgument(fmt.Errorf("key %s: %w", src, err))
					}
					if err := a.addTrustedKey(ks, in, cosignKeyToTrust(k), src, prefix, root, skipReview); err != nil {
						return err
					}
					continue
				}
				keys, err := trust.ReadKeys(bytes.NewReader(data))
				if err != nil {
					return errdefs.InvalidArgument(fmt.Errorf("key %s: %w", src, err))
				}
				for _, k := range keys {
					if err := a.addTrustedKey(ks, in, openPGPKeyToTrust(k), src, prefix, root, skipReview); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&prefix, "prefix", "", "the image name prefix the key is trusted for")
	fs.BoolVar(&root, "root", false, "trust the key, from a file, for every image")
	fs.BoolVar(&skipReview, "skip-fingerprint-review", false, "add the key without asking")
	fs.BoolVar(&insecureAllowHTTP, "insecure-allow-http", false, "allow fetching the key over http://")
	return cmd
}

// keyFetcher downloads keys and finds them by discovery for rkt trust,
// with the client of image downloads: the TLS options, no https->http or
// credentialed redirects, and the auth.d credentials of the key's host.
func (a *app) keyFetcher(allowHTTP bool) *fetch.Fetcher {
	return &fetch.Fetcher{Config: a.cfg, Insecure: fetch.Insecure{HTTP: allowHTTP, TLS: a.insecure.has("tls")}, UserAgent: "rkt/" + version}
}

// readTrustKey reads a key file or URL (downloaded by kf), at most
// trust.MaxKeySize bytes.
func readTrustKey(ctx context.Context, kf *fetch.Fetcher, src string, allowHTTP bool) ([]byte, error) {
	var r io.ReadCloser
	switch {
	case strings.HasPrefix(src, "https://"), strings.HasPrefix(src, "http://"):
		if strings.HasPrefix(src, "http://") && !allowHTTP {
			return nil, errdefs.InvalidArgument(fmt.Errorf("%s: a key over http:// needs --insecure-allow-http", src))
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		body, err := kf.Get(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", src, err)
		}
		r = body
	default:
		f, err := os.Open(strings.TrimPrefix(src, "file://"))
		if err != nil {
			return nil, errdefs.NotFound(fmt.Errorf("key %s: %w", src, err))
		}
		r = f
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, trust.MaxKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", src, err)
	}
	if len(data) > trust.MaxKeySize {
		return nil, errdefs.TooLarge(fmt.Errorf("key %s: key file larger than 1 MiB", src))
	}
	return data, nil
}

// keyToTrust is a key for rkt trust to add: what differs between the
// kinds of key.
type keyToTrust struct {
	// rootLabel is shown, in place of the prefix, for a root key.
	rootLabel string
	// shown are the lines that describe the key (fingerprint, identities).
	shown []string
	// fingerprint names the key in the question and its refusal.
	fingerprint string
	// store adds the key to the keystore and returns its file.
	store func(ks trust.Keystore, prefix string, root bool) (string, error)
}

// openPGPKeyToTrust is an OpenPGP key (ACIs), shown with its identities.
func openPGPKeyToTrust(k *openpgp.Entity) keyToTrust {
	shown := []string{"GPG key fingerprint is: " + trust.FormatFingerprint(k)}
	for _, id := range trust.Identities(k) {
		shown = append(shown, "\t"+id)
	}
	return keyToTrust{rootLabel: "Root key", shown: shown, fingerprint: trust.Fingerprint(k), store: func(ks trust.Keystore, prefix string, root bool) (string, error) {
		return ks.AddKey(k, prefix, root)
	}}
}

// cosignKeyToTrust is a PEM public key (registry images).
func cosignKeyToTrust(k *trust.CosignKey) keyToTrust {
	shown := []string{fmt.Sprintf("Public key (%s) fingerprint is: %s", k.Algorithm(), k.Fingerprint())}
	return keyToTrust{rootLabel: "Root key (registry images)", shown: shown, fingerprint: k.Fingerprint(), store: func(ks trust.Keystore, prefix string, root bool) (string, error) {
		return ks.AddCosignKey(k, prefix, root)
	}}
}

// addTrustedKey shows a key (the prefix, or its root label for a root key,
// its source, then its description), asks whether to trust it unless
// skipReview, stores it and says where it went.
func (a *app) addTrustedKey(ks trust.Keystore, in *bufio.Reader, k keyToTrust, src, prefix string, root, skipReview bool) error {
	if root {
		fmt.Fprintln(a.stderr, k.rootLabel)
	} else {
		fmt.Fprintf(a.stderr, "Prefix: %q\n", prefix)
	}
	fmt.Fprintf(a.stderr, "Key: %q\n", src)
	for _, l := range k.shown {
		fmt.Fprintln(a.stderr, l)
	}
	review, err := a.review(in, k.fingerprint, skipReview)
	if err != nil {
		return err
	}
	path, err := k.store(ks, prefix, root)
	if err != nil {
		return err
	}
	a.reportTrusted(src, prefix, path, review, root)
	return nil
}

// review asks whether to trust the key fp, unless skip.
func (a *app) review(in *bufio.Reader, fp string, skip bool) (string, error) {
	if skip {
		return "without fingerprint review", nil
	}
	fmt.Fprint(a.stderr, "Are you sure you want to trust this key (yes/no)?\n")
	answer, err := in.ReadString('\n')
	if err != nil && answer == "" {
		return "", errdefs.InvalidArgument(fmt.Errorf("key %s not trusted: no answer", fp))
	}
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "yes" && a != "y" {
		return "", errdefs.InvalidArgument(fmt.Errorf("key %s not trusted", fp))
	}
	return "after fingerprint review", nil
}

// reportTrusted says where a trusted key went.
func (a *app) reportTrusted(src, prefix, path, review string, root bool) {
	if root {
		fmt.Fprintf(a.stderr, "Trusting %q as a root key %s.\n", src, review)
		fmt.Fprintf(a.stderr, "Added root key at %q\n", path)
	} else {
		fmt.Fprintf(a.stderr, "Trusting %q for prefix %q %s.\n", src, prefix, review)
		fmt.Fprintf(a.stderr, "Added key for prefix %q at %q\n", prefix, path)
	}
}
