package akvcreds

import (
	"context"
	"errors"
	"time"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/throttle"
)

// pacer paces the requests to one vault (azure.Pacer): the vault's limiter,
// then a slot of the Client's concurrency.
type pacer struct {
	lim *throttle.Limiter
	sem chan struct{}
}

// Wait implements azure.Pacer.
func (p *pacer) Wait(ctx context.Context) error {
	if err := p.lim.Wait(ctx); err != nil {
		if errors.Is(err, throttle.ErrExhausted) {
			return &azure.Error{Kind: azure.KindThrottled, Code: "Throttled", Err: err,
				Detail: "Key Vault kept answering 429 (throttled) for over " + throttle.Budget.String() + ", so the requests waiting for it gave up"}
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
func (p *pacer) Throttled(retryAfter time.Duration, _ int) bool {
	_, giveUp := p.lim.Throttled(retryAfter)
	return !giveUp
}
