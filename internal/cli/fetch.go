//go:build !rktfront

package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/fetch"
	"github.com/rkt/rkt/internal/store"
)

// fetcher builds a Fetcher on an open store with the global options.
func (a *app) fetcher(s *store.Store, policy store.PullPolicy) *fetch.Fetcher {
	f := &fetch.Fetcher{
		Store:              s,
		Config:             a.cfg,
		Insecure:           fetch.Insecure{HTTP: a.insecure.has("http"), TLS: a.insecure.has("tls"), Image: a.insecure.has("image"), PubKey: a.insecure.has("pubkey")},
		PullPolicy:         policy,
		UserAgent:          "rkt/" + version,
		Keystore:           a.keystore(),
		TrustKeysFromHTTPS: a.trustHTTPS,
		Notef:              func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) },
	}
	if a.debug {
		f.Debugf = a.debugf
	}
	return f
}

func (a *app) fetchCommand() *cobra.Command {
	var (
		pull      pullPolicyFlag
		full      bool
		signature string
	)
	cmd := &cobra.Command{
		Use:   "fetch IMAGE...",
		Short: "Fetch image(s) and store them in the local store",
		Long: `Fetch images into the local store and print the ID of each.

IMAGE is one of:
  docker://[REGISTRY/]REPO[:TAG|@DIGEST]  a registry (Docker Registry v2 / OCI distribution)
  oci:DIR[:REF]                           an OCI image layout directory
  oci-archive:FILE[:REF]                  a tar of an OCI image layout
  docker-archive:FILE[:TAG]               an archive written by 'docker save'
  PATH.aci, ./PATH, /PATH, file:///PATH     an appc ACI file
  sha256-ID, sha512-ID or NAME            an image already in the store

Layers download in parallel, are checked against their digests while they
stream, and are unpacked once into the store, shared by every image that
has them. An ACI needs a detached OpenPGP signature (PATH.asc, or
--signature) by a key trusted for its name (see rkt trust). A registry
image needs a cosign signature (key-based, the sha256-<digest>.sig tag)
by a key trusted for its repository (rkt trust
--prefix=docker://REGISTRY/REPO cosign.pub). --insecure-options=image
fetches an image without checking a signature; the local OCI and Docker
transports need it.`,
		Example: `  rkt fetch docker://registry.example.com/team/app:1.0
  rkt --insecure-options=image fetch docker://127.0.0.1:5000/busybox:latest
  rkt --insecure-options=image,http fetch --pull-policy=new docker://localhost:5000/app@sha256:…
  rkt --insecure-options=image fetch oci-archive:busybox.tar`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if signature != "" && len(args) != 1 {
				return errdefs.InvalidArgument(errors.New("--signature goes with exactly one image"))
			}
			policy, err := pull.policy(cmd)
			if err != nil {
				return err
			}
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			defer s.Close()
			f := a.fetcher(s, policy)
			f.Signature = signature
			if a.insecure.has("image") {
				fmt.Fprintln(a.stderr, "image: warning: image signature verification has been disabled")
			}
			progress := isTerminal(a.stderr) && !a.debug
			for _, in := range args {
				var d *progressDisplay
				if progress {
					d = newProgressDisplay(a.stderr)
					f.Progress = d
				}
				res, err := f.Fetch(cmd.Context(), in)
				if d != nil {
					// The final state is drawn before the ID is printed.
					d.Close()
				}
				if err != nil {
					return err
				}
				a.printID(res.Image, full)
			}
			return nil
		},
	}
	pull.register(cmd, store.PullUpdate)
	cmd.Flags().BoolVar(&full, "full", false, "print the image's full ID")
	cmd.Flags().StringVar(&signature, "signature", "", "the signature file of the ACI image (default: its path with .asc appended)")
	return cmd
}

// printID prints an image ID as rkt fetch does: short, or whole with --full.
func (a *app) printID(img *store.Image, full bool) {
	if full {
		fmt.Fprintln(a.stdout, store.FormatID(img.ID))
		return
	}
	fmt.Fprintln(a.stdout, store.ShortID(img.ID, 32))
}
