package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/store"
)

// pullPolicyFlag registers --pull-policy and its deprecated aliases.
type pullPolicyFlag struct {
	value    string
	noStore  bool
	storeOnl bool
}

func (p *pullPolicyFlag) register(cmd *cobra.Command, def store.PullPolicy) {
	cmd.Flags().StringVar(&p.value, "pull-policy", string(def), "when to fetch an image: new (only if missing from the store), update (ask the remote for a newer one), never (store only)")
	cmd.Flags().BoolVar(&p.noStore, "no-store", false, "fetch images, ignoring the local store (deprecated: --pull-policy=update)")
	cmd.Flags().BoolVar(&p.storeOnl, "store-only", false, "use only the local store (deprecated: --pull-policy=never)")
	_ = cmd.Flags().MarkDeprecated("no-store", "use --pull-policy=update")
	_ = cmd.Flags().MarkDeprecated("store-only", "use --pull-policy=never")
}

func (p *pullPolicyFlag) policy(cmd *cobra.Command) (store.PullPolicy, error) {
	if p.noStore && p.storeOnl {
		return "", errdefs.InvalidArgument(errors.New("--no-store and --store-only cannot be used together"))
	}
	if (p.noStore || p.storeOnl) && cmd.Flags().Changed("pull-policy") {
		return "", errdefs.InvalidArgument(errors.New("--pull-policy cannot be used with --no-store or --store-only"))
	}
	switch {
	case p.noStore:
		return store.PullUpdate, nil
	case p.storeOnl:
		return store.PullNever, nil
	}
	return store.ParsePullPolicy(p.value)
}
