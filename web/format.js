// Amounts, cycles and dates as Korean shops write them: "9,900원", "매월", "2026년 11월 30일 (월) 오후 6:45".
// Pure functions: no DOM, no network. Dates are Korea's (KST) wherever the browser is; the weekday and
// 오전/오후 are written here rather than by Intl, whose Korean output differs between ICU builds.

const KST_OFFSET_MS = 9 * 60 * 60 * 1000; // Korea has no daylight saving time
const WEEKDAYS = ["일", "월", "화", "수", "목", "금", "토"];
const CYCLES = {
  day: "매일", daily: "매일", week: "매주", weekly: "매주",
  month: "매월", monthly: "매월", year: "매년", yearly: "매년", annual: "매년",
};

/** "9,900원"; another currency keeps its code, so a foreign amount is never shown as won. */
export function money(amount, currency = "KRW") {
  const digits = Number(amount).toLocaleString("ko-KR");
  return currency === "KRW" ? `${digits}원` : `${digits} ${currency}`;
}

/** "매월" for "month", or the interval as given when it is not one the page knows. */
export function cycle(interval) {
  return CYCLES[String(interval).toLowerCase()] || String(interval || "");
}

/** A date from ISO 8601 text or epoch seconds, or null when it is neither. */
export function toDate(value) {
  if (typeof value !== "number" && typeof value !== "string") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026년 11월 30일 (월) 오후 6:45" in Korea's time, or the value as text when it is not a date. */
export function kstDateTime(value) {
  const date = toDate(value);
  if (date === null) return String(value);
  const korea = new Date(date.getTime() + KST_OFFSET_MS);
  const hour = korea.getUTCHours();
  const clock = `${hour < 12 ? "오전" : "오후"} ${hour % 12 || 12}:${String(korea.getUTCMinutes()).padStart(2, "0")}`;
  const day = `${korea.getUTCFullYear()}년 ${korea.getUTCMonth() + 1}월 ${korea.getUTCDate()}일`;
  return `${day} (${WEEKDAYS[korea.getUTCDay()]}) ${clock}`;
}
