package main

import (
	"fmt"
	"testing"
)

// Prices come from kimi_classify's own settings; 0, its default, means none were configured.
func TestPricesOf(t *testing.T) {
	tests := []struct {
		name string
		with map[string]any
		want string // Known, input, output, cached, currency
	}{
		{"unset", map[string]any{}, "false 0 0 0 "},
		{"zero as shipped", map[string]any{"price_per_mtok_input": "0", "price_per_mtok_output": 0, "currency": "CNY"}, "false 0 0 0 "},
		{"priced", map[string]any{"price_per_mtok_input": "4", "price_per_mtok_output": 16.0, "price_per_mtok_cached": 1, "currency": "CNY"}, "true 4 16 1 元"},
		{"dollars", map[string]any{"price_per_mtok_input": 0.6, "price_per_mtok_output": 2.5, "currency": "USD"}, "true 0.6 2.5 0 USD"},
	}
	for _, tt := range tests {
		p := pricesOf(tt.with)
		if got := fmt.Sprintf("%v %v %v %v %s", p.Known, p.Input, p.Output, p.CachedInput, p.Currency); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
