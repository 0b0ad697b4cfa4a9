"""Hẹn: SMS and USSD referral and reminder service."""
