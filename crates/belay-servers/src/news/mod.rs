//! The `news` server: headlines and search over a small bundled set of invented articles.
//!
//! No network: the articles live in [`data`], every link is on example.com, and every
//! valid (category, country) pair has at least one article so any valid call shows
//! something.

mod data;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use crate::results::{structured, tool_error as error};
use belay_mcp::{Parameters, schema::portable_tools};
use data::{ARTICLES, Entry};
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::schema_for_output},
    model::CallToolResult,
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Categories `get_headlines` accepts.
pub const CATEGORIES: &[&str] = &[
    "business",
    "technology",
    "sports",
    "health",
    "science",
    "entertainment",
];
/// Countries `get_headlines` accepts: ISO 3166-1 alpha-2 code and name.
pub const COUNTRIES: &[(&str, &str)] = &[
    ("us", "United States"),
    ("gb", "United Kingdom"),
    ("de", "Germany"),
    ("fr", "France"),
    ("in", "India"),
    ("jp", "Japan"),
];
/// The category when none is given.
pub const DEFAULT_CATEGORY: &str = "technology";
/// The country when none is given.
pub const DEFAULT_COUNTRY: &str = "us";
/// Most articles one call returns.
pub const MAX_RESULTS: usize = 10;

/// Arguments of `get_headlines`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct HeadlinesArgs {
    /// One of business, technology, sports, health, science, entertainment
    /// (default technology).
    #[serde(default)]
    pub category: Option<String>,
    /// Two-letter country code: us, gb, de, fr, in or jp (default us).
    #[serde(default)]
    pub country: Option<String>,
}

/// Arguments of `search_news`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct SearchArgs {
    /// Words to look for in titles and summaries (case-insensitive).
    pub query: String,
}

/// One article as tools return it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Article {
    /// Headline.
    pub title: String,
    /// Publication (fictional).
    pub source: String,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// Two-letter country code.
    pub country: String,
    /// Publication date, `YYYY-MM-DD`.
    pub published: String,
    /// One-sentence summary.
    pub summary: String,
    /// Link (on example.com).
    pub url: String,
}

/// Structured result of `get_headlines`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Headlines {
    /// The category shown.
    pub category: String,
    /// The country shown.
    pub country: String,
    /// Newest first.
    pub articles: Vec<Article>,
}

/// One `search_news` result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct SearchHit {
    /// How many words of the title and summary match the query.
    pub matches: u32,
    /// The article.
    pub article: Article,
}

/// Structured result of `search_news`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct SearchResults {
    /// The query as given.
    pub query: String,
    /// How many articles matched, including any beyond the first [`MAX_RESULTS`].
    pub total: usize,
    /// Best match first.
    pub results: Vec<SearchHit>,
}

/// Mock news as an MCP server.
#[derive(Debug, Clone)]
pub struct NewsServer {
    tool_router: ToolRouter<Self>,
}

impl Default for NewsServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl NewsServer {
    /// A new server; the articles are bundled.
    pub fn new() -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    /// Latest headlines for a category and country.
    #[tool(
        description = "Latest headlines (mock articles) for a category and country, newest \
            first. category: business, technology, sports, health, science or entertainment \
            (default technology); country: us, gb, de, fr, in or jp (default us).",
        output_schema = schema_for_output::<Headlines>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_headlines(&self, Parameters(args): Parameters<HeadlinesArgs>) -> CallToolResult {
        let category = args.category.as_deref().unwrap_or(DEFAULT_CATEGORY).trim();
        let Some(category) = CATEGORIES.iter().find(|c| c.eq_ignore_ascii_case(category)) else {
            return error(format!(
                "unknown category `{category}`; valid categories: {}",
                CATEGORIES.join(", ")
            ));
        };
        let country = args.country.as_deref().unwrap_or(DEFAULT_COUNTRY).trim();
        let Some(&(code, country_name)) = COUNTRIES
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(country))
        else {
            let valid: Vec<String> = COUNTRIES
                .iter()
                .map(|(c, n)| format!("{c} ({n})"))
                .collect();
            return error(format!(
                "unknown country `{country}`; valid countries: {}",
                valid.join(", ")
            ));
        };
        let mut entries: Vec<&Entry> = ARTICLES
            .iter()
            .filter(|e| e.category == *category && e.country == code)
            .collect();
        entries.sort_by(|a, b| b.published.cmp(a.published).then(a.title.cmp(b.title)));
        entries.truncate(MAX_RESULTS);

        let mut text = format!(
            "{} headlines for {country_name} ({code}):",
            title_case(category)
        );
        for (i, e) in entries.iter().enumerate() {
            text.push_str(&format!(
                "\n{}. {} ({}, {})\n   {}\n   {}",
                i + 1,
                e.title,
                e.source,
                e.published,
                e.summary,
                url(e)
            ));
        }
        let headlines = Headlines {
            category: (*category).to_owned(),
            country: code.to_owned(),
            articles: entries.into_iter().map(article).collect(),
        };
        structured(text, &headlines)
    }

    /// Searches titles and summaries.
    #[tool(
        description = "Search the mock articles for words in their title or summary \
            (case-insensitive, whole words). Best matches first, at most 10.",
        output_schema = schema_for_output::<SearchResults>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_news(&self, Parameters(args): Parameters<SearchArgs>) -> CallToolResult {
        let wanted: HashSet<String> = words(&args.query).collect();
        if wanted.is_empty() {
            return error("query must contain at least one word (letters or digits)".to_owned());
        }
        let mut hits: Vec<(u32, &Entry)> = ARTICLES
            .iter()
            .map(|e| {
                let text = words(e.title).chain(words(e.summary));
                let matches = text.filter(|w| wanted.contains(w)).count();
                (u32::try_from(matches).unwrap_or(u32::MAX), e)
            })
            .filter(|(matches, _)| *matches > 0)
            .collect();
        hits.sort_by(|(ma, a), (mb, b)| {
            mb.cmp(ma)
                .then(b.published.cmp(a.published))
                .then(a.title.cmp(b.title))
        });
        let total = hits.len();
        hits.truncate(MAX_RESULTS);

        let query = args.query.trim();
        let mut text = match total {
            0 => format!("No articles match \"{query}\"."),
            1 => format!("1 article matches \"{query}\":"),
            n if n > MAX_RESULTS => {
                format!("{n} articles match \"{query}\"; the best {MAX_RESULTS}:")
            }
            n => format!("{n} articles match \"{query}\":"),
        };
        for (i, (matches, e)) in hits.iter().enumerate() {
            text.push_str(&format!(
                "\n{}. {} ({}, {}, {}/{}; {matches} matching words)\n   {}",
                i + 1,
                e.title,
                e.source,
                e.published,
                e.category,
                e.country,
                url(e)
            ));
        }
        let results = SearchResults {
            query: args.query,
            total,
            results: hits
                .into_iter()
                .map(|(matches, e)| SearchHit {
                    matches,
                    article: article(e),
                })
                .collect(),
        };
        structured(text, &results)
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "belay-news",
    instructions = "Mock news: invented articles for testing. Nothing here is real."
)]
impl ServerHandler for NewsServer {}

/// Lower-case words: runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

fn url(e: &Entry) -> String {
    let slug: Vec<String> = words(e.title).collect();
    format!("https://example.com/news/{}/{}", e.country, slug.join("-"))
}

fn article(e: &Entry) -> Article {
    Article {
        title: e.title.to_owned(),
        source: e.source.to_owned(),
        category: e.category.to_owned(),
        country: e.country.to_owned(),
        published: e.published.to_owned(),
        summary: e.summary.to_owned(),
        url: url(e),
    }
}

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
