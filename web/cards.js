// Card rules for the page: the same checks, in the same order, with the same reason codes as the server's
// functions/billing/cards.py and models.py, so the page can say what is wrong before anything is sent.
// Pure functions: no DOM, no network, no logging.

const BUSINESS_NUMBER_WEIGHTS = [1, 3, 7, 1, 3, 7, 1, 3, 5];
const MAX_YEARS_AHEAD = 20;
const KST_OFFSET_MS = 9 * 60 * 60 * 1000; // Korea has no daylight saving time
const ASCII_DIGITS = /^[0-9]+$/;

export function isAsciiDigits(value) {
  return ASCII_DIGITS.test(value);
}

export function luhnValid(digits) {
  let total = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let value = digits.charCodeAt(digits.length - 1 - index) - 48;
    if (index % 2 === 1) value = value > 4 ? value * 2 - 9 : value * 2;
    total += value;
  }
  return total % 10 === 0;
}

/** Spaces and dashes removed, as the server does before checking. */
export function cardDigits(value) {
  return value.replace(/[ -]/g, "");
}

export function cardNumberProblem(value) {
  const digits = cardDigits(value);
  if (digits === "") return "required";
  if (!isAsciiDigits(digits)) return "digits_only";
  if (digits.length < 14 || digits.length > 16) return "length_14_to_16";
  if (!luhnValid(digits)) return "checksum";
  return null;
}

/** Today's date in Korea as {year, month, day}: a card is valid through its month there. */
export function todayInKorea(now = new Date()) {
  const korea = new Date(now.getTime() + KST_OFFSET_MS);
  return { year: korea.getUTCFullYear(), month: korea.getUTCMonth() + 1, day: korea.getUTCDate() };
}

/** Why a "YYYY-MM" expiry is unusable today, or null (cards.expiry_problem). */
export function expiryProblem(value, today = todayInKorea()) {
  const match = /^([0-9]{4})-([0-9]{2})$/.exec(value);
  if (!match) return value === "" ? "required" : "format_yyyy_mm";
  const year = Number(match[1]);
  const month = Number(match[2]);
  if (month < 1 || month > 12) return "month_1_to_12";
  if (year < today.year || (year === today.year && month < today.month)) return "expired";
  if (year > today.year + MAX_YEARS_AHEAD) return "too_far_ahead";
  return null;
}

/** "MM/YY" (or "MMYY", "MM/YYYY") as printed on the card, to the API's "YYYY-MM"; null if not that shape. */
export function expiryFromCard(value) {
  const match = /^\s*([0-9]{2})\s*\/?\s*([0-9]{2}|[0-9]{4})\s*$/.exec(value);
  if (!match) return null;
  const year = match[2].length === 2 ? `20${match[2]}` : match[2];
  return `${year}-${match[1]}`;
}

function isRealYymmdd(value) {
  const yy = Number(value.slice(0, 2));
  const month = Number(value.slice(2, 4));
  const day = Number(value.slice(4, 6));
  // The century is not given, and 20yy decides: a day that exists in 19yy exists in 20yy too (2000 was a
  // leap year, 1900 was not), and 29 Feb 00 exists only in 2000 (as billing/cards.py decides it).
  const date = new Date(Date.UTC(2000 + yy, month - 1, day));
  return date.getUTCFullYear() === 2000 + yy && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** The Korean business registration number (사업자등록번호) check digit. */
export function businessNumberValid(digits) {
  const numbers = Array.from(digits, (c) => c.charCodeAt(0) - 48);
  let total = 0;
  BUSINESS_NUMBER_WEIGHTS.forEach((weight, index) => {
    total += numbers[index] * weight;
  });
  total += Math.floor((numbers[8] * 5) / 10);
  return (10 - (total % 10)) % 10 === numbers[9];
}

/** Birth date without dashes (business numbers are often written 123-45-67890). */
export function birthDigits(value) {
  return value.trim().replace(/-/g, "");
}

export function birthProblem(value) {
  const text = birthDigits(value);
  if (text === "") return "required";
  if (!isAsciiDigits(text)) return "digits_only";
  if (text.length === 6) return isRealYymmdd(text) ? null : "invalid_date";
  if (text.length === 10) return businessNumberValid(text) ? null : "business_number_checksum";
  return "length_6_or_10";
}

export function isCorporate(birth) {
  return birthDigits(birth).length === 10;
}

/** The PIN's first two digits: required for personal cards, optional for corporate ones (models.py). */
export function pinProblem(value, birth = "") {
  if (value === "") return isCorporate(birth) ? null : "required";
  return value.length === 2 && isAsciiDigits(value) ? null : "two_digits";
}

// Card brands by the number's first digits (IIN ranges), for what the page shows while the number is typed:
// the brand, how its digits are grouped, and how many it has. The server does not use them, and the issuing
// company (카드사) is not guessed here: PortOne's answer names it.
const BRANDS = {
  visa: { label: "VISA", length: 16, groups: [4, 4, 4, 4] },
  mastercard: { label: "Mastercard", length: 16, groups: [4, 4, 4, 4] },
  amex: { label: "AMEX", length: 15, groups: [4, 6, 5] },
  jcb: { label: "JCB", length: 16, groups: [4, 4, 4, 4] },
  unionpay: { label: "UnionPay", length: 16, groups: [4, 4, 4, 4] },
  diners: { label: "Diners", length: 14, groups: [4, 6, 4] },
  domestic: { label: "국내전용", length: 16, groups: [4, 4, 4, 4] }, // BC and other Korean cards (94xx, 95xx)
};
const UNKNOWN_BRAND = { label: "", length: 16, groups: [4, 4, 4, 4] };
// [brand, lowest prefix, highest prefix], prefixes of one length each. Diners' 38-39 are left out: those
// cards now have 16 digits on the Discover network, and grouping them 4-6-4 would be wrong.
const IIN_RANGES = [
  ["visa", "4", "4"],
  ["mastercard", "51", "55"],
  ["mastercard", "2221", "2720"],
  ["amex", "34", "34"],
  ["amex", "37", "37"],
  ["jcb", "3528", "3589"],
  ["unionpay", "62", "62"],
  ["diners", "300", "305"],
  ["diners", "36", "36"],
  ["domestic", "9", "9"],
];

/** The brand the first digits name ({label, length, groups}), or an unlabelled 16-digit card until they do. */
export function cardBrand(digits) {
  const range = IIN_RANGES.find(([, low, high]) => {
    const prefix = digits.slice(0, low.length);
    return prefix.length === low.length && prefix >= low && prefix <= high;
  });
  return range ? BRANDS[range[0]] : UNKNOWN_BRAND;
}

/** The digits grouped as the brand prints them ("3782 822463 10005"); digits past its length in fours. */
export function groupCardDigits(digits) {
  const { groups } = cardBrand(digits);
  const parts = [];
  for (let start = 0, index = 0; start < digits.length; index += 1) {
    const size = groups[index] ?? 4;
    parts.push(digits.slice(start, start + size));
    start += size;
  }
  return parts.join(" ");
}

/** Six digits that are a date may also begin a corporation's business number (사업자등록번호), whose 4th and
 * 5th digits 81-83 (법인 본점, 비영리법인, 국가·지방자치단체) can make one: the customer may go on to 10. */
export function mayBeginBusinessNumber(digits) {
  return /^[0-9]{3}8[1-3]/.test(digits);
}
