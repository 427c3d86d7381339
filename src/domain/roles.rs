//! Organization roles and what each may do (Better Auth's default access control): `owner`
//! everything, `admin` all but deleting the organization or touching ownership, `member` only
//! reads. The rules for changing a membership live here too, so the store can apply them inside
//! the transaction that makes the change.

use super::model::MemberRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

/// What a role may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    UpdateOrganization,
    DeleteOrganization,
    /// Invite, change roles, remove members.
    ManageMembers,
    CancelInvitation,
}

impl Role {
    /// A role name, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    /// A stored role. Better Auth keeps several roles comma-joined (`"admin,member"`); the
    /// strongest counts. Anything unknown counts as `member`.
    pub fn of_stored(stored: &str) -> Self {
        stored.split(',').filter_map(Self::parse).max().unwrap_or(Self::Member)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        match self {
            Self::Owner => true,
            Self::Admin => permission != Permission::DeleteOrganization,
            Self::Member => false,
        }
    }
}

/// A change to one membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    SetRole(Role),
    Remove,
    /// The caller removes their own membership.
    Leave,
}

/// Why a change to an organization or a membership was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The organization does not exist (any more).
    OrganizationNotFound,
    /// The caller is not a member of the organization.
    NotAMember,
    /// The target is not a member of the organization.
    MemberNotFound,
    /// The caller's role does not allow it.
    NotAllowed,
    /// It would leave the organization without an owner.
    LastOwner,
}

/// Whether `actor` may apply `change` to `target`, given how many owners the organization has.
/// Owners and admins manage members; only owners make, unmake or remove owners; anyone may leave;
/// the last owner may not stop being one.
pub fn check_member_change(
    actor: &MemberRow,
    target: &MemberRow,
    change: MemberChange,
    owners: usize,
) -> Result<(), Denied> {
    let actor_role = Role::of_stored(&actor.role);
    let target_role = Role::of_stored(&target.role);
    let touches_ownership = target_role == Role::Owner || change == MemberChange::SetRole(Role::Owner);
    let permitted = match change {
        MemberChange::Leave => actor.id == target.id,
        MemberChange::SetRole(_) | MemberChange::Remove => {
            actor_role.can(Permission::ManageMembers) && (!touches_ownership || actor_role == Role::Owner)
        }
    };
    if !permitted {
        return Err(Denied::NotAllowed);
    }
    let stays_owner = change == MemberChange::SetRole(Role::Owner);
    if target_role == Role::Owner && !stays_owner && owners <= 1 {
        return Err(Denied::LastOwner);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: &str) -> MemberRow {
        MemberRow {
            id: id.into(),
            organization_id: "o".into(),
            user_id: format!("u-{id}"),
            role: role.into(),
            created_at: 0,
        }
    }

    #[test]
    fn stored_roles() {
        assert_eq!(Role::of_stored("admin,member"), Role::Admin);
        assert_eq!(Role::of_stored("owner"), Role::Owner);
        assert_eq!(Role::of_stored("custom"), Role::Member);
        assert_eq!(Role::of_stored(" Owner "), Role::Owner);
        assert_eq!(Role::parse("superuser"), None);
    }

    #[test]
    fn member_changes() {
        use MemberChange::*;
        let (owner, admin, plain) = (member("o", "owner"), member("a", "admin"), member("m", "member"));
        assert_eq!(check_member_change(&admin, &plain, SetRole(Role::Admin), 1), Ok(()));
        assert_eq!(check_member_change(&admin, &plain, SetRole(Role::Owner), 1), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&admin, &owner, Remove, 2), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&plain, &plain, Remove, 1), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&plain, &plain, Leave, 1), Ok(()));
        assert_eq!(check_member_change(&plain, &admin, Leave, 1), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&owner, &owner, Leave, 1), Err(Denied::LastOwner));
        assert_eq!(check_member_change(&owner, &owner, SetRole(Role::Admin), 1), Err(Denied::LastOwner));
        assert_eq!(check_member_change(&owner, &owner, SetRole(Role::Owner), 1), Ok(()));
        assert_eq!(check_member_change(&owner, &owner, Remove, 2), Ok(()));
    }
}
