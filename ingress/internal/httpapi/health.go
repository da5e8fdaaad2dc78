package httpapi

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// livez answers while the process serves HTTP.
func (a *api) livez(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 only when every dependency answers, else 503 with each
// dependency's state.
func (a *api) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	for name, err := range a.cfg.Ready(ctx) {
		checks[name] = "ok"
		if err != nil {
			checks[name] = err.Error()
			ready = false
		}
	}
	if !ready {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": checks})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}
