package msauth

import (
	"context"
	"net/http"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/o365gateway/gateway/services/shared/msapi"
)

// loginPathWords are the literal segments of Entra's paths (token
// endpoint, OpenID discovery, instance discovery); the tenant segment is
// an id.
var loginPathWords = []string{"oauth2", "v2.0", "token", ".well-known", "openid-configuration", "common",
	"organizations", "discovery", "instance"}

// transport is o.HTTP counting every token request in the Microsoft
// metrics as api "login".
func (o Options) transport() policy.Transporter {
	var next policy.Transporter
	if o.HTTP != nil {
		next = o.HTTP
	}
	return msapi.ObservedTransport(msapi.Metrics{API: msapi.MetricLogin, PathWords: loginPathWords}, next)
}

// Outcomes of a refresh-token redemption (the outcome attribute of
// refresh_token_redemptions_total).
const (
	redeemOK          = "ok"          // Entra issued a token (and the next refresh token)
	redeemExpired     = Expired       // the refresh token or the secret expired
	redeemInvalid     = Invalid       // revoked, spent or wrong
	redeemRefused     = "refused"     // another refusal (consent missing, a bad request)
	redeemUnavailable = "unavailable" // no answer, throttled, or Entra's own failure
)

var redemptions = sync.OnceValue(func() metric.Int64Counter {
	c, _ := otel.Meter("o365gateway/msauth").Int64Counter("refresh_token_redemptions_total",
		metric.WithDescription("redemptions of app+user refresh tokens at Entra by outcome: ok, expired, invalid, refused, unavailable"))
	return c
})

func countRedemption(ctx context.Context, outcome string) {
	redemptions().Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

// failureOutcome classifies Entra's refusal of a redemption.
func failureOutcome(f *Failure) string {
	if kind, ok := deadCodes[f.Code]; ok {
		return kind
	}
	if f.Status == http.StatusTooManyRequests || f.Status >= 500 {
		return redeemUnavailable
	}
	return redeemRefused
}
