//! Validation and normalisation of the values commands carry: e-mail, names, texts, money, seats.
//!
//! Each function takes what a person typed and returns the value the domain stores (trimmed,
//! e-mail lower-cased) or a [`ValueError`] saying what to fix. Lengths count characters, not bytes.

use std::fmt;

use thiserror::Error;

use super::{Refusal, RefusalKind};

pub const DISPLAY_NAME_MAX: usize = 80;
pub const PASSWORD_MIN: usize = 8;
pub const TITLE_MAX: usize = 120;
pub const DESCRIPTION_MAX: usize = 5_000;
pub const CATEGORY_MAX: usize = 80;
pub const CITY_MAX: usize = 80;
pub const PAYMENT_METHOD_MAX: usize = 200;
pub const EMAIL_MAX: usize = 254;
pub const PRICE_MAX_CENTS: i64 = 100_000_000;
pub const CAPACITY_MAX: u32 = 10_000;
pub const RATING_MIN: i64 = 1;
pub const RATING_MAX: i64 = 5;
pub const COMMENT_MAX: usize = 2_000;

/// A text field, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    DisplayName,
    Title,
    Description,
    Category,
    City,
    PaymentMethod,
    Comment,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::DisplayName => "display name",
            Field::Title => "title",
            Field::Description => "description",
            Field::Category => "category",
            Field::City => "city",
            Field::PaymentMethod => "payment method",
            Field::Comment => "comment",
        })
    }
}

/// A value a person typed that the domain cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("{0:?} is not an e-mail address: write it like name@example.com")]
    Email(String),
    #[error("the {0} cannot be empty")]
    Empty(Field),
    #[error("the {field} can have at most {max} characters, but it has {actual}")]
    TooLong { field: Field, max: usize, actual: usize },
    #[error("the password must have at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("the price must be between 0 and {max} cents, but it is {actual}")]
    Price { actual: i64, max: i64 },
    #[error("the currency must be three upper-case letters such as EUR, but it is {0:?}")]
    Currency(String),
    #[error("the capacity must be between 1 and {max} seats, but it is {actual}")]
    Capacity { actual: u32, max: u32 },
    #[error("the rating must be between {RATING_MIN} and {RATING_MAX}, but it is {0}")]
    Rating(i64),
}

impl Refusal for ValueError {
    fn kind(&self) -> RefusalKind {
        RefusalKind::BadInput
    }
}

/// Trims and lower-cases an address and checks it looks like one: a single '@', a non-empty
/// local part, a domain with a dot inside it, no whitespace.
pub fn normalize_email(raw: &str) -> Result<String, ValueError> {
    let email = raw.trim().to_lowercase();
    let looks_valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
                && email.chars().count() <= EMAIL_MAX
        }
        None => false,
    };
    if looks_valid {
        Ok(email)
    } else {
        Err(ValueError::Email(raw.trim().to_owned()))
    }
}

/// Checks a password's length. Passwords never enter a command or an event: the credential
/// store calls this before hashing.
pub fn validate_password(password: &str) -> Result<(), ValueError> {
    if password.chars().count() < PASSWORD_MIN {
        return Err(ValueError::PasswordTooShort { min: PASSWORD_MIN });
    }
    Ok(())
}

pub fn normalize_display_name(raw: &str) -> Result<String, ValueError> {
    required_text(raw, Field::DisplayName, DISPLAY_NAME_MAX)
}

pub fn normalize_title(raw: &str) -> Result<String, ValueError> {
    required_text(raw, Field::Title, TITLE_MAX)
}

/// A description may be empty.
pub fn normalize_description(raw: &str) -> Result<String, ValueError> {
    let text = raw.trim();
    check_max(text, Field::Description, DESCRIPTION_MAX)?;
    Ok(text.to_owned())
}

pub fn normalize_category(raw: &str) -> Result<String, ValueError> {
    required_text(raw, Field::Category, CATEGORY_MAX)
}

/// A city is optional, but when given it is 1 to 80 characters.
pub fn normalize_city(raw: Option<&str>) -> Result<Option<String>, ValueError> {
    raw.map(|city| required_text(city, Field::City, CITY_MAX)).transpose()
}

pub fn normalize_payment_method(raw: &str) -> Result<String, ValueError> {
    required_text(raw, Field::PaymentMethod, PAYMENT_METHOD_MAX)
}

pub fn check_price(cents: i64) -> Result<i64, ValueError> {
    if !(0..=PRICE_MAX_CENTS).contains(&cents) {
        return Err(ValueError::Price { actual: cents, max: PRICE_MAX_CENTS });
    }
    Ok(cents)
}

/// An ISO 4217 style code: exactly three ASCII upper-case letters, taken as typed.
pub fn check_currency(code: &str) -> Result<String, ValueError> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ValueError::Currency(code.to_owned()));
    }
    Ok(code.to_owned())
}

pub fn check_capacity(seats: u32) -> Result<u32, ValueError> {
    if !(1..=CAPACITY_MAX).contains(&seats) {
        return Err(ValueError::Capacity { actual: seats, max: CAPACITY_MAX });
    }
    Ok(seats)
}

/// A review's rating: 1 to 5 stars.
pub fn check_rating(rating: i64) -> Result<u8, ValueError> {
    match u8::try_from(rating) {
        Ok(stars) if (RATING_MIN..=RATING_MAX).contains(&rating) => Ok(stars),
        _ => Err(ValueError::Rating(rating)),
    }
}

/// A review's comment: trimmed, possibly empty, at most [`COMMENT_MAX`] characters.
pub fn normalize_comment(raw: &str) -> Result<String, ValueError> {
    let text = raw.trim();
    check_max(text, Field::Comment, COMMENT_MAX)?;
    Ok(text.to_owned())
}

fn required_text(raw: &str, field: Field, max: usize) -> Result<String, ValueError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValueError::Empty(field));
    }
    check_max(text, field, max)?;
    Ok(text.to_owned())
}

fn check_max(text: &str, field: Field, max: usize) -> Result<(), ValueError> {
    let actual = text.chars().count();
    if actual > max {
        return Err(ValueError::TooLong { field, max, actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_should_trim_and_lower_case_an_email() {
        assert_eq!(normalize_email("  Ada@Example.ORG "), Ok("ada@example.org".to_owned()));
    }

    #[test]
    fn it_should_not_accept_malformed_emails() {
        for raw in ["", "ada", "@example.org", "ada@", "ada@example", "a@b@example.org", "a da@example.org", "ada@.org", "ada@example."] {
            assert_eq!(normalize_email(raw), Err(ValueError::Email(raw.trim().to_owned())), "{raw:?}");
        }
    }

    #[test]
    fn it_should_count_characters_not_bytes() {
        let name = "é".repeat(DISPLAY_NAME_MAX);
        assert_eq!(normalize_display_name(&name), Ok(name.clone()));
        assert_eq!(
            normalize_display_name(&format!("{name}é")),
            Err(ValueError::TooLong { field: Field::DisplayName, max: DISPLAY_NAME_MAX, actual: DISPLAY_NAME_MAX + 1 })
        );
    }

    #[test]
    fn it_should_not_accept_a_blank_display_name() {
        assert_eq!(normalize_display_name("   "), Err(ValueError::Empty(Field::DisplayName)));
    }

    #[test]
    fn it_should_not_accept_a_short_password() {
        assert_eq!(validate_password("1234567"), Err(ValueError::PasswordTooShort { min: PASSWORD_MIN }));
        assert_eq!(validate_password("12345678"), Ok(()));
    }

    #[test]
    fn it_should_check_course_texts() {
        assert_eq!(
            normalize_title(&"t".repeat(TITLE_MAX + 1)),
            Err(ValueError::TooLong { field: Field::Title, max: TITLE_MAX, actual: TITLE_MAX + 1 })
        );
        assert_eq!(normalize_description(""), Ok(String::new()));
        assert_eq!(normalize_category(""), Err(ValueError::Empty(Field::Category)));
        assert_eq!(normalize_city(None), Ok(None));
        assert_eq!(normalize_city(Some(" ")), Err(ValueError::Empty(Field::City)));
        assert_eq!(normalize_city(Some(" Utrecht ")), Ok(Some("Utrecht".to_owned())));
    }

    #[test]
    fn it_should_check_money_and_seats() {
        assert_eq!(check_price(0), Ok(0));
        assert_eq!(check_price(PRICE_MAX_CENTS), Ok(PRICE_MAX_CENTS));
        assert_eq!(check_price(-1), Err(ValueError::Price { actual: -1, max: PRICE_MAX_CENTS }));
        assert_eq!(check_currency("EUR"), Ok("EUR".to_owned()));
        for bad in ["eur", "EU", "EURO", "€UR"] {
            assert_eq!(check_currency(bad), Err(ValueError::Currency(bad.to_owned())));
        }
        assert_eq!(check_capacity(0), Err(ValueError::Capacity { actual: 0, max: CAPACITY_MAX }));
        assert_eq!(check_capacity(CAPACITY_MAX + 1), Err(ValueError::Capacity { actual: CAPACITY_MAX + 1, max: CAPACITY_MAX }));
        assert_eq!(check_capacity(CAPACITY_MAX), Ok(CAPACITY_MAX));
    }

    #[test]
    fn it_should_check_reviews() {
        assert_eq!(check_rating(1), Ok(1));
        assert_eq!(check_rating(5), Ok(5));
        for bad in [0, 6, -1, 261] {
            assert_eq!(check_rating(bad), Err(ValueError::Rating(bad)));
        }
        assert_eq!(normalize_comment("  "), Ok(String::new()));
        assert_eq!(normalize_comment(&"é".repeat(COMMENT_MAX)), Ok("é".repeat(COMMENT_MAX)));
        assert_eq!(
            normalize_comment(&"c".repeat(COMMENT_MAX + 1)),
            Err(ValueError::TooLong { field: Field::Comment, max: COMMENT_MAX, actual: COMMENT_MAX + 1 })
        );
    }
}
