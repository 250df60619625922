// HUATUO's error envelope, `{"error":{"code","message"}}`, shared by every route.
import type { Context } from "hono";

export type ErrorCode = "invalid_request" | "unauthorized" | "not_found" | "rate_limited" | "internal_error" | "not_ready";

export function errorResponse(c: Context, status: 400 | 401 | 404 | 413 | 429 | 500 | 503, code: ErrorCode, message: string): Response {
  return c.json({ error: { code, message } }, status);
}
