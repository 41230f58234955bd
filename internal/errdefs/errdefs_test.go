package errdefs

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestWithKindNil(t *testing.T) {
	for k := KindUnknown; k <= KindUnsafe; k++ {
		if err := WithKind(k, nil); err != nil {
			t.Errorf("WithKind(%v, nil) = %v, want nil", k, err)
		}
	}
	for name, f := range map[string]func(error) error{
		"NotFound": NotFound, "InvalidArgument": InvalidArgument, "DigestMismatch": DigestMismatch,
		"TooLarge": TooLarge, "Unsafe": Unsafe,
	} {
		if err := f(nil); err != nil {
			t.Errorf("%s(nil) = %v, want nil", name, err)
		}
	}
}

func TestKinds(t *testing.T) {
	base := errors.New("base failure")
	tests := []struct {
		name     string
		err      error
		kindOf   Kind
		is       []Kind
		isNot    []Kind
		wantMsg  string
		unwrapTo error
	}{
		{
			name:    "plain error",
			err:     base,
			kindOf:  KindUnknown,
			isNot:   []Kind{KindUnknown, KindNotFound, KindTooLarge},
			wantMsg: "base failure",
		},
		{
			name:     "nil error",
			err:      nil,
			kindOf:   KindUnknown,
			isNot:    []Kind{KindUnknown, KindNotFound},
			unwrapTo: nil,
		},
		{
			name:     "direct kind",
			err:      NotFound(base),
			kindOf:   KindNotFound,
			is:       []Kind{KindNotFound},
			isNot:    []Kind{KindUnknown, KindInvalidArgument, KindTooLarge},
			wantMsg:  "base failure",
			unwrapTo: base,
		},
		{
			name:     "kind under one %w",
			err:      fmt.Errorf("read config: %w", TooLarge(base)),
			kindOf:   KindTooLarge,
			is:       []Kind{KindTooLarge},
			isNot:    []Kind{KindNotFound, KindDigestMismatch},
			wantMsg:  "read config: base failure",
			unwrapTo: base,
		},
		{
			name:     "kind under several %w",
			err:      fmt.Errorf("a: %w", fmt.Errorf("b: %w", fmt.Errorf("c: %w", DigestMismatch(base)))),
			kindOf:   KindDigestMismatch,
			is:       []Kind{KindDigestMismatch},
			isNot:    []Kind{KindNotFound},
			wantMsg:  "a: b: c: base failure",
			unwrapTo: base,
		},
		{
			name:     "outer kind wins KindOf, both are Is",
			err:      InvalidArgument(fmt.Errorf("x: %w", NotFound(base))),
			kindOf:   KindInvalidArgument,
			is:       []Kind{KindInvalidArgument, KindNotFound},
			isNot:    []Kind{KindTooLarge, KindUnknown},
			wantMsg:  "x: base failure",
			unwrapTo: base,
		},
		{
			name:     "inner kind found past an outer one through %w",
			err:      fmt.Errorf("top: %w", Unsafe(fmt.Errorf("mid: %w", WithKind(KindPermission, fs.ErrPermission)))),
			kindOf:   KindUnsafe,
			is:       []Kind{KindUnsafe, KindPermission},
			isNot:    []Kind{KindNotFound},
			unwrapTo: fs.ErrPermission,
		},
		{
			name:   "a message copy does not wrap",
			err:    errors.New("lost: " + NotFound(base).Error()),
			kindOf: KindUnknown,
			isNot:  []Kind{KindNotFound},
		},
		{
			name:   "explicit unknown kind",
			err:    WithKind(KindUnknown, base),
			kindOf: KindUnknown,
			is:     []Kind{KindUnknown},
			isNot:  []Kind{KindNotFound},
		},
		{
			name:   "available kind",
			err:    WithKind(KindUnavailable, base),
			kindOf: KindUnavailable,
			is:     []Kind{KindUnavailable},
		},
		{
			name:   "already exists kind",
			err:    fmt.Errorf("w: %w", WithKind(KindAlreadyExists, base)),
			kindOf: KindAlreadyExists,
			is:     []Kind{KindAlreadyExists},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.kindOf {
				t.Errorf("KindOf = %v, want %v", got, tc.kindOf)
			}
			for _, k := range tc.is {
				if !Is(tc.err, k) {
					t.Errorf("Is(err, %v) = false, want true", k)
				}
			}
			for _, k := range tc.isNot {
				if Is(tc.err, k) {
					t.Errorf("Is(err, %v) = true, want false", k)
				}
			}
			if tc.wantMsg != "" && tc.err.Error() != tc.wantMsg {
				t.Errorf("message = %q, want %q (a kind must not change the message)", tc.err.Error(), tc.wantMsg)
			}
			if tc.unwrapTo != nil && !errors.Is(tc.err, tc.unwrapTo) {
				t.Errorf("errors.Is(err, %v) = false: the kind wrapper must unwrap", tc.unwrapTo)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{
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
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), s)
		}
	}
}

func TestExitCodes(t *testing.T) {
	if ExitFailure != 254 {
		t.Errorf("ExitFailure = %d, want 254 as in rkt 1.x", ExitFailure)
	}
	if ExitUsage != 2 {
		t.Errorf("ExitUsage = %d, want 2", ExitUsage)
	}
}
