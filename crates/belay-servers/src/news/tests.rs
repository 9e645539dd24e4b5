use std::collections::HashSet;

use super::{ARTICLES, CATEGORIES, COUNTRIES, title_case, url, words};

#[test]
fn every_entry_uses_valid_values() {
    assert!(ARTICLES.len() >= 40, "only {} articles", ARTICLES.len());
    for e in ARTICLES {
        assert!(CATEGORIES.contains(&e.category), "{e:?}");
        assert!(COUNTRIES.iter().any(|(c, _)| *c == e.country), "{e:?}");
        let parts: Vec<&str> = e.published.split('-').collect();
        let numbers: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        assert!(
            matches!(numbers[..], [2020..=2030, 1..=12, 1..=31]) && e.published.len() == 10,
            "bad date in {e:?}"
        );
        assert!(!e.source.is_empty() && !e.summary.is_empty(), "{e:?}");
    }
}

#[test]
fn every_category_and_country_pair_has_an_article() {
    for category in CATEGORIES {
        for (country, _) in COUNTRIES {
            assert!(
                ARTICLES
                    .iter()
                    .any(|e| e.category == *category && e.country == *country),
                "nothing for {category}/{country}"
            );
        }
    }
}

#[test]
fn titles_and_urls_are_unique() {
    let titles: HashSet<_> = ARTICLES.iter().map(|e| e.title).collect();
    let urls: HashSet<_> = ARTICLES.iter().map(url).collect();
    assert_eq!(titles.len(), ARTICLES.len());
    assert_eq!(urls.len(), ARTICLES.len());
    assert!(
        urls.iter()
            .all(|u| u.starts_with("https://example.com/news/"))
    );
}

#[test]
fn urls_are_slugs_of_the_title() {
    let e = ARTICLES
        .iter()
        .find(|e| e.title.starts_with("Tokyo firm shows foldable"));
    assert_eq!(
        e.map(url).as_deref(),
        Some(
            "https://example.com/news/jp/tokyo-firm-shows-foldable-e-reader-with-paper-like-screen"
        )
    );
}

#[test]
fn words_split_on_anything_but_letters_and_digits() {
    let split: Vec<String> = words("  Mock AI-model, v2!  Ünïcode ").collect();
    assert_eq!(split, ["mock", "ai", "model", "v2", "ünïcode"]);
    assert_eq!(words(" ,;- ").count(), 0);
}

#[test]
fn title_case_capitalises_the_first_letter() {
    assert_eq!(title_case("technology"), "Technology");
    assert_eq!(title_case(""), "");
}
