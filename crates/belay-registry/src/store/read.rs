//! Reading the registry: one version, a server's versions, pages of a list, everything.

use super::*;

impl RegistryStore {
    /// `name@version` (`latest`: the latest listed version); unlisted ones only with
    /// `include_unlisted`.
    pub async fn get(
        &self,
        name: &str,
        version: &str,
        include_unlisted: bool,
    ) -> Result<Option<Entry>, Error> {
        let (name, version) = (name.to_owned(), version.to_owned());
        let found = self
            .db
            .call(move |c| {
                if version == "latest" {
                    c.query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM registry_rows
                             WHERE name = ?1 AND is_latest = 1"
                        ),
                        [&name],
                        entry,
                    )
                    .optional()
                } else {
                    get(c, &name, &version)
                }
            })
            .await?;
        Ok(found.filter(|e| include_unlisted || e.status.listed()))
    }

    /// Every version of `name`, newest publication first (listed ones unless
    /// `include_unlisted`); `None` when the server has none to show.
    pub async fn versions(
        &self,
        name: &str,
        include_unlisted: bool,
    ) -> Result<Option<Vec<Entry>>, Error> {
        let name = name.to_owned();
        let all = self
            .db
            .call(move |c| {
                let mut statement = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM registry_rows WHERE name = ?1
                     ORDER BY published_at DESC, id DESC"
                ))?;
                let rows = statement.query_map([&name], entry)?;
                rows.collect::<rusqlite::Result<Vec<Entry>>>()
            })
            .await?;
        let shown: Vec<Entry> = all
            .into_iter()
            .filter(|e| include_unlisted || e.status.listed())
            .collect();
        Ok((!shown.is_empty()).then_some(shown))
    }

    /// One page of versions matching `query`, by name then publication.
    pub async fn list(&self, query: ListQuery) -> Result<Page, Error> {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = query.limit.max(1);
        let search = query.search.as_deref().map(like_escaped);
        let rows = self
            .db
            .call(move |c| {
                let mut statement = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM registry_rows
                     WHERE (?1 IS NULL OR name LIKE '%' || ?1 || '%' ESCAPE '\\')
                       AND (?2 IS NULL OR (?2 = 'latest' AND is_latest = 1) OR version = ?2)
                       AND (?3 IS NULL OR updated_at > ?3)
                       AND (?4 OR status IN ('approved', 'deprecated'))
                       AND (?5 IS NULL OR name > ?5 OR (name = ?5 AND id > ?6))
                       AND (?8 IS NULL OR EXISTS (SELECT 1 FROM json_each(owners) WHERE value = ?8))
                       AND (?9 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?9))
                     ORDER BY name, id
                     LIMIT ?7"
                ))?;
                let (after_name, after_id) = after.unzip();
                let rows = statement.query_map(
                    params![
                        search,
                        query.version,
                        query.updated_since,
                        query.include_unlisted,
                        after_name,
                        after_id,
                        i64::try_from(limit + 1).unwrap_or(i64::MAX),
                        query.owner,
                        query.tag,
                    ],
                    entry,
                )?;
                rows.collect::<rusqlite::Result<Vec<Entry>>>()
            })
            .await?;
        let mut entries = rows;
        let next_cursor = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(encode_cursor)
        } else {
            None
        };
        Ok(Page {
            entries,
            next_cursor,
        })
    }

    /// Every stored version (any status) with `status`, owned by `owner`, tagged `tag`,
    /// by name then publication: for the CLI.
    pub async fn all(
        &self,
        status: Option<Status>,
        owner: Option<&str>,
        tag: Option<&str>,
    ) -> Result<Vec<Entry>, Error> {
        let status = status.map(Status::as_str);
        let (owner, tag) = (owner.map(str::to_owned), tag.map(str::to_owned));
        Ok(self
            .db
            .call(move |c| {
                let mut statement = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM registry_rows
                     WHERE (?1 IS NULL OR status = ?1)
                       AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(owners) WHERE value = ?2))
                       AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?3))
                     ORDER BY name, id"
                ))?;
                let rows = statement.query_map(params![status, owner, tag], entry)?;
                rows.collect::<rusqlite::Result<Vec<Entry>>>()
            })
            .await?)
    }
}
