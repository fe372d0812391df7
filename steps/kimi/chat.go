package kimi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// DefaultChatBaseURL is Moonshot's China platform. The global platform is https://api.moonshot.ai/v1;
// keys of one do not work on the other.
const DefaultChatBaseURL = "https://api.moonshot.cn/v1"

// Chat is a client of Moonshot's chat completions API.
type Chat struct {
	BaseURL string // e.g. https://api.moonshot.cn/v1
	APIKey  string
	HTTP    *http.Client // nil: http.DefaultClient; deadlines come from the context
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ResponseFormat selects structured output ("json_schema"), JSON mode ("json_object") or free text
// ("text"). json_schema is offered besides json_object (corrections at the top of
// docs/kimi-asr-api.md, item 3; OpenAI's response_format shape).
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema member of a structured-output response_format.
type JSONSchema struct {
	Name   string         `json:"name"`
	Strict bool           `json:"strict"`
	Schema map[string]any `json:"schema"`
}

// Thinking switches a model's reasoning ("enabled" or "disabled"); models that only reason refuse
// "disabled", and the request heals (see Heal).
type Thinking struct {
	Type string `json:"type"`
}

// ChatRequest is the body of POST /chat/completions. Optional fields are omitted when unset, because some
// models refuse any value of them; which ones is learned from their 400s (Heal), never from the id.
type ChatRequest struct {
	Model          string          `json:"model"`
	Messages       []Message       `json:"messages"`
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	Temperature    *float64        `json:"temperature,omitempty"`
	TopP           *float64        `json:"top_p,omitempty"`
	N              *int            `json:"n,omitempty"`
	// MaxTokens is deprecated in favour of MaxCompletionTokens (still accepted): corrections item 2.
	MaxTokens           int       `json:"max_tokens,omitempty"`
	MaxCompletionTokens int       `json:"max_completion_tokens,omitempty"`
	Thinking            *Thinking `json:"thinking,omitempty"`
	// ReasoningEffort is K3's control of its reasoning: "low", "high" or "max" (vercel/ai
	// packages/moonshotai/src/moonshotai-chat-options.ts; kimi-asr-api.md correction 6).
	ReasoningEffort string `json:"reasoning_effort,omitempty"`
	// PromptCacheKey groups requests that share a prefix so the server can cache it (corrections item 4).
	PromptCacheKey string `json:"prompt_cache_key,omitempty"`
}

// Usage counts the tokens of one completion. Reasoning tokens are part of completion_tokens (OpenAI
// shape, completion_tokens_details.reasoning_tokens); cached prompt tokens come as usage.cached_tokens
// (Moonshot fixtures) or prompt_tokens_details.cached_tokens (one reseller doc): both are read.
type Usage struct {
	PromptTokens            int           `json:"prompt_tokens"`
	CompletionTokens        int           `json:"completion_tokens"`
	TotalTokens             int           `json:"total_tokens"`
	CachedTokens            int           `json:"cached_tokens,omitempty"`
	PromptTokensDetails     *tokenDetails `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *tokenDetails `json:"completion_tokens_details,omitempty"`
}

type tokenDetails struct {
	CachedTokens    int `json:"cached_tokens,omitempty"`
	ReasoningTokens int `json:"reasoning_tokens,omitempty"`
}

// Reasoning is the number of completion tokens spent on reasoning_content.
func (u Usage) Reasoning() int {
	if u.CompletionTokensDetails != nil {
		return u.CompletionTokensDetails.ReasoningTokens
	}
	return 0
}

// Cached is the number of prompt tokens served from the prompt cache.
func (u Usage) Cached() int {
	if u.CachedTokens > 0 {
		return u.CachedTokens
	}
	if u.PromptTokensDetails != nil {
		return u.PromptTokensDetails.CachedTokens
	}
	return 0
}

// Choice is one completion. Moonshot puts usage inside the choice in streams; it is kept when present.
type Choice struct {
	Index   int `json:"index"`
	Message struct {
		Role             string `json:"role"`
		Content          string `json:"content"`
		ReasoningContent string `json:"reasoning_content,omitempty"`
	} `json:"message"`
	FinishReason string `json:"finish_reason"`
	Usage        *Usage `json:"usage,omitempty"`
}

// ChatResponse is the body of a successful completion.
type ChatResponse struct {
	ID      string   `json:"id"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitempty"`
}

// Content returns the first choice's text and finish reason; reasoning_content is left out.
func (r *ChatResponse) Content() (content, finish string) {
	if len(r.Choices) == 0 {
		return "", ""
	}
	return r.Choices[0].Message.Content, r.Choices[0].FinishReason
}

// TokenUsage returns the usage wherever the server put it (top level, or inside the first choice).
func (r *ChatResponse) TokenUsage() Usage {
	if r.Usage != nil {
		return *r.Usage
	}
	if len(r.Choices) > 0 && r.Choices[0].Usage != nil {
		return *r.Choices[0].Usage
	}
	return Usage{}
}

// Complete sends one chat completion.
func (c *Chat) Complete(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	const op = "chat completion"
	b, err := c.post(ctx, "chat/completions", op, req)
	if err != nil {
		return nil, err
	}
	var out ChatResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	if len(out.Choices) == 0 {
		return nil, fmt.Errorf("%s: response has no choices", op)
	}
	return &out, nil
}

// EstimateTokens asks the server how many tokens the messages take as a prompt of model.
func (c *Chat) EstimateTokens(ctx context.Context, model string, msgs []Message) (int, error) {
	const op = "estimate token count"
	b, err := c.post(ctx, "tokenizers/estimate-token-count", op, struct {
		Model    string    `json:"model"`
		Messages []Message `json:"messages"`
	}{model, msgs})
	if err != nil {
		return 0, err
	}
	var out struct {
		Data struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return out.Data.TotalTokens, nil
}

// Model is one entry of GET /v1/models. ContextLength is 0 when the server does not say.
type Model struct {
	ID            string
	ContextLength int
}

// Models lists the models the key may use. The window is read from whichever field the server fills
// (context_length, context_window, max_context_length); the API reference does not fix its name [U].
func (c *Chat) Models(ctx context.Context) ([]Model, error) {
	const op = "list models"
	b, err := c.get(ctx, "models", op)
	if err != nil {
		return nil, err
	}
	var out struct {
		Data []struct {
			ID               string `json:"id"`
			ContextLength    int    `json:"context_length"`
			ContextWindow    int    `json:"context_window"`
			MaxContextLength int    `json:"max_context_length"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	ms := make([]Model, 0, len(out.Data))
	for _, m := range out.Data {
		ms = append(ms, Model{ID: m.ID, ContextLength: max(m.ContextLength, m.ContextWindow, m.MaxContextLength)})
	}
	return ms, nil
}

// Balance is the account balance (CNY on the China platform, USD on the global one).
type Balance struct {
	Available float64 `json:"available_balance"`
	Voucher   float64 `json:"voucher_balance"`
	Cash      float64 `json:"cash_balance"`
}

// Balance reads the account balance.
func (c *Chat) Balance(ctx context.Context) (Balance, error) {
	const op = "read balance"
	b, err := c.get(ctx, "users/me/balance", op)
	if err != nil {
		return Balance{}, err
	}
	var out struct {
		Data Balance `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return Balance{}, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return out.Data, nil
}

const maxChatBody = 16 << 20

func (c *Chat) post(ctx context.Context, path, op string, body any) ([]byte, error) {
	u, err := endpoint(c.baseURL(), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	js, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	c.auth(req)
	b, _, err := do(ctx, c.HTTP, req, op, maxChatBody)
	return b, err
}

func (c *Chat) get(ctx context.Context, path, op string) ([]byte, error) {
	u, err := endpoint(c.baseURL(), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	c.auth(req)
	b, _, err := do(ctx, c.HTTP, req, op, maxChatBody)
	return b, err
}

func (c *Chat) baseURL() string {
	if strings.TrimSpace(c.BaseURL) == "" {
		return DefaultChatBaseURL
	}
	return c.BaseURL
}

func (c *Chat) auth(req *http.Request) {
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
}
