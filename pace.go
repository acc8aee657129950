package akvcreds

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/telemetry"
	"github.com/akvcreds/akvcreds/internal/throttle"
)

// pacer paces the requests to one vault (azure.Pacer): the vault's limiter,
// then a slot of the Client's concurrency.
type pacer struct {
	lim   *throttle.Limiter
	sem   chan struct{}
	log   *slog.Logger
	vault string
	tel   *telemetry.T // nil: nothing recorded
}

// Wait implements azure.Pacer.
func (p *pacer) Wait(ctx context.Context, first bool) error {
	wait := p.lim.Wait
	if first {
		wait = p.lim.WaitFirst
	}
	if err := wait(ctx); err != nil {
		if errors.Is(err, throttle.ErrExhausted) {
			return &azure.Error{Kind: azure.KindThrottled, Code: "Throttled", Err: err,
				Detail: "Key Vault kept answering 429 (throttled) for over " + p.lim.Budget().String() + ", so the requests waiting for it gave up"}
		}
		return err
	}
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release implements azure.Pacer.
func (p *pacer) Release() { <-p.sem }

// Accepted implements azure.Pacer.
func (p *pacer) Accepted() { p.lim.Succeeded() }

// Throttled implements azure.Pacer: the request is tried again unless the
// vault's throttling has lasted its budget.
func (p *pacer) Throttled(ctx context.Context, retryAfter time.Duration, attempt int) bool {
	pause, giveUp := p.lim.Throttled(retryAfter)
	p.log.LogAttrs(ctx, slog.LevelDebug, "akvcreds: vault throttled; pausing", slog.String("vault", p.vault),
		slog.Duration("pause", pause), slog.Duration("retryAfter", retryAfter), slog.Int("attempt", attempt), slog.Bool("giveUp", giveUp))
	p.tel.Throttled(ctx, p.vault, retryAfter, pause, attempt, giveUp)
	return !giveUp
}
