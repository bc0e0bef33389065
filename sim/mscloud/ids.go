package mscloud

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strings"

	"github.com/google/uuid"
)

// Identifiers, secrets and small string helpers shared by every part.

func newGUID() string { return uuid.NewString() }

func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		out[i] = alphabet[v.Int64()]
	}
	return string(out)
}

func randomToken(prefix string, nbytes int) string {
	b := make([]byte, nbytes)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

const (
	alphaNum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	secretChar = alphaNum + "_.-~"
)

// newClientSecret looks like an Entra client secret value (…8Q~…, 40 chars).
func newClientSecret() string {
	return randomString(3, alphaNum) + "8Q~" + randomString(34, secretChar)
}

// newPassword returns a strong initial password: upper, lower, digit and symbol.
func newPassword() string {
	return randomString(1, "ABCDEFGHJKLMNPQRSTUVWXYZ") + randomString(1, "abcdefghijkmnopqrstuvwxyz") +
		randomString(10, alphaNum) + randomString(1, "!#$%&*+-=?@") + randomString(3, "23456789")
}

// newMSCV mimics the correlation vector Partner Center returns in MS-CV.
func newMSCV() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) + ".0"
}

func newETag() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
