package errdefs

import "errors"

// Exit codes of the rkt command, as in rkt 1.x.
const (
	// ExitFailure is rkt's own failure, in any command (rkt >= 1.18).
	ExitFailure = 254
	// ExitUsage is returned when rkt is run without a subcommand.
	ExitUsage = 2
)

// Kind classifies an error so the CLI and callers can react to it without
// matching strings.
type Kind int

// The error kinds.
const (
	KindUnknown Kind = iota
	KindNotFound
	KindInvalidArgument
	KindAlreadyExists
	KindPermission
	KindUnavailable
	KindDigestMismatch
	KindTooLarge
	KindUnsafe
)

var kindNames = map[Kind]string{
	KindUnknown:         "unknown",
	KindNotFound:        "not found",
	KindInvalidArgument: "invalid argument",
	KindAlreadyExists:   "already exists",
	KindPermission:      "permission denied",
	KindUnavailable:     "unavailable",
	KindDigestMismatch:  "digest mismatch",
	KindTooLarge:        "too large",
	KindUnsafe:          "unsafe content",
}

func (k Kind) String() string { return kindNames[k] }

// kindError marks an error with a kind. Its message is the wrapped error's.
type kindError struct {
	kind Kind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// WithKind marks err with kind k; nil stays nil.
func WithKind(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: k, err: err}
}

// KindOf returns the outermost kind found in err's chain, or KindUnknown.
func KindOf(err error) Kind {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return KindUnknown
}

// Is reports whether err's chain carries kind k.
func Is(err error, k Kind) bool {
	for err != nil {
		var ke *kindError
		if !errors.As(err, &ke) {
			return false
		}
		if ke.kind == k {
			return true
		}
		err = ke.err
	}
	return false
}

// NotFound marks err as KindNotFound.
func NotFound(err error) error { return WithKind(KindNotFound, err) }

// InvalidArgument marks err as KindInvalidArgument.
func InvalidArgument(err error) error { return WithKind(KindInvalidArgument, err) }

// DigestMismatch marks err as KindDigestMismatch.
func DigestMismatch(err error) error { return WithKind(KindDigestMismatch, err) }

// TooLarge marks err as KindTooLarge.
func TooLarge(err error) error { return WithKind(KindTooLarge, err) }

// Unsafe marks err as KindUnsafe.
func Unsafe(err error) error { return WithKind(KindUnsafe, err) }
